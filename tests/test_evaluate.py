"""The benchmark runner: resumes after being killed with identical numbers; malformed lines are skipped, not fatal."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest

HETA = str(Path(sys.executable).parent / "heta")
ENV = dict(os.environ, OMP_NUM_THREADS="1")
ARGS = ["evaluate", "--model", "toy-gpt2", "--dataset", "toy", "--methods", "heta,heta-gate,occlusion,attention",
        "--limit", "8", "--probes", "2", "--quiet"]

def _records(out):
    recs = [json.loads(l) for l in (Path(out) / "results.jsonl").read_text().splitlines()]
    return {(r["id"], r["method"]): {k: v for k, v in r.items() if k != "seconds"} for r in recs}

def test_resume_after_kill_gives_identical_numbers(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    subprocess.run([HETA, *ARGS, "--out", str(full)], check=True, env=ENV, capture_output=True, timeout=600)
    p = subprocess.Popen([HETA, *ARGS, "--out", str(cut)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    res = cut / "results.jsonl"
    t0 = time.time()
    while time.time() - t0 < 300 and (not res.exists() or len(res.read_text().splitlines()) < 12): time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    n_cut = len(res.read_text().splitlines())
    assert 12 <= n_cut < 40, n_cut                      # killed mid-run (8 cases x (random + 4 methods) = 40)
    r = subprocess.run([HETA, *ARGS, "--out", str(cut)], check=True, env=ENV, capture_output=True, text=True, timeout=600)
    assert _records(cut) == _records(full)            # every metric of every (case, method) identical
    assert len(res.read_text().splitlines()) == 40    # nothing recomputed twice
    strip = lambda t: "\n".join(l.rsplit("|", 2)[0] for l in t.splitlines())  # the last column is seconds/case
    assert strip((cut / "summary.md").read_text()) == strip((full / "summary.md").read_text())
    assert (cut / "summary.png").stat().st_size > 1000
    run = json.loads((cut / "run.json").read_text())
    assert run["seed"] == 0 and "torch" in run["versions"] and run["methods"][0] == "heta"

def test_resume_with_other_settings_is_refused(tmp_path):
    out = tmp_path / "o"
    subprocess.run([HETA, *ARGS[:-3], "--limit", "2", "--quiet", "--out", str(out)], check=True, env=ENV, capture_output=True, timeout=600)
    r = subprocess.run([HETA, *ARGS[:-3], "--limit", "2", "--quiet", "--seed", "3", "--out", str(out)], env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and "other settings" in r.stderr

def test_malformed_dataset_line_is_reported_and_skipped(tmp_path):
    from heta.data import generate_curated
    items = generate_curated(3)
    lines = [json.dumps(items[0]), "{broken json", json.dumps({**items[1], "evidence_span": [10, 5]}), json.dumps(items[2])]
    ds = tmp_path / "d.jsonl"; ds.write_text("\n".join(lines) + "\n")
    r = subprocess.run([HETA, "evaluate", "--model", "tiny-gpt2", "--dataset", str(ds), "--methods", "attention", "--quiet",
                        "--out", str(tmp_path / "o")], env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"{ds}:2: skipped" in r.stdout and f"{ds}:3: skipped" in r.stdout
    cases = [json.loads(l) for l in (tmp_path / "o" / "cases.jsonl").read_text().splitlines()]
    assert [c["id"] for c in cases] == [items[0]["id"], items[2]["id"]]  # the two good items were prepared

def test_unknown_dataset_and_method(tmp_path):
    r = subprocess.run([HETA, "evaluate", "--model", "toy-gpt2", "--dataset", "nope", "--out", str(tmp_path / "a")],
                       env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "neither 'curated', 'toy'" in r.stderr
    r = subprocess.run([HETA, "evaluate", "--model", "toy-gpt2", "--dataset", "toy", "--methods", "magic", "--limit", "1",
                        "--out", str(tmp_path / "b"), "--quiet"], env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "unknown explainer" in r.stderr

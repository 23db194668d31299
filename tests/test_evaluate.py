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
    assert r.returncode == 2 and "unknown dataset 'nope'" in r.stderr and "valid forms are" in r.stderr and "rationales:FILE" in r.stderr
    r = subprocess.run([HETA, "evaluate", "--model", "toy-gpt2", "--dataset", "toy", "--methods", "magic", "--limit", "1",
                        "--out", str(tmp_path / "b"), "--quiet"], env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "unknown method(s) magic" in r.stderr   # the CLI checks --methods before loading anything

# --- human rationales and the new metrics through the runner ----------------------------------------------------
NOTE = "The kettle whistled, so Joe poured the boiling water over the dried leaves and waited for his tea"
def _rationale_file(path):
    marks = [[NOTE.index(w), NOTE.index(w) + len(w)] for w in ("kettle", "leaves")]
    lines = [json.dumps({"text": NOTE, "rationale": marks}), "{broken", json.dumps({"text": NOTE, "rationale": [[0, 999]]}),
             json.dumps({"text": NOTE.replace("tea", "coffee"), "rationale": marks[:1]})]
    path.write_text("\n".join(lines) + "\n")
    return path

def test_rationales_run_in_process(tmp_path, capsys):
    from heta.models import load_model
    from heta.evaluate import run, METRICS
    ds = _rationale_file(tmp_path / "notes.jsonl")
    model, tok = load_model("tiny-gpt2")
    out = tmp_path / "o"
    tab = run("tiny-gpt2", f"rationales:{ds}", ["attention", "occlusion"], out, progress=False, loaded=(model, tok))
    printed = capsys.readouterr().out
    assert f"{ds}:2: skipped" in printed and f"{ds}:3: skipped" in printed and "out of range" in printed
    recs = [json.loads(l) for l in (out / "results.jsonl").read_text().splitlines()]
    assert len(recs) == 2 * 3                                          # 2 cases x (random + 2 methods)
    for r in recs:
        if r["method"] == "_random": continue
        assert all(0 <= r[k] <= 1 for k in ("f1", "mrr", "top1", "ap")) and r["dsa"] is None and r["clause_mass"] is None
        assert r["mrr"] >= r["top1"]                                   # P(top token gold) <= E[1 / rank]
    assert {"mrr", "top1", "ap", "clause_mass"} <= set(METRICS) and METRICS["clause_mass"].lower_is_better
    md = (out / "summary.md").read_text()
    assert "| mrr | top1 | ap |" in md and "clause_mass" not in md and "2 cases." in md
    assert list(tab.index) == ["attention", "occlusion"] and tab.attrs["n_cases"] == 2
    again = run("tiny-gpt2", f"rationales:{ds}", ["attention", "occlusion"], out, progress=False, loaded=(model, tok))
    assert len((out / "results.jsonl").read_text().splitlines()) == 6 and again.to_dict() == tab.to_dict()   # resumed
    with pytest.raises(ValueError, match="other settings"):
        run("tiny-gpt2", "curated:dev", ["attention"], out, progress=False, loaded=(model, tok))

def test_rationales_through_the_cli(tmp_path, capsys):
    from heta.cli import main                                            # in process: the same parser and command, faster
    ds = _rationale_file(tmp_path / "notes.jsonl")
    assert main(["evaluate", "--model", "tiny-gpt2", "--dataset", f"rationales:{ds}", "--methods", "attention",
                 "--quiet", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert f"{ds}:2: skipped" in out and "| mrr | top1 | ap |" in out
    assert main(["evaluate", "--model", "tiny-gpt2", "--dataset", "rationales:nowhere.jsonl", "--out", str(tmp_path / "b")]) == 2
    assert "needs an existing JSON-lines file" in capsys.readouterr().err

def test_score_case_segment_metrics_on_a_longrange_case():
    from heta.data import make_longrange_item, Case, tokens_in_span
    from heta.targets import make_target
    from heta.metrics import mass_share
    from heta.evaluate import score_case
    from heta.models import load_model
    from heta.baselines import make_explainer
    it = make_longrange_item("capital", "If you travel to {a}{clause}, you should visit its capital,", "Norway", "Oslo",
                             " (the printer in the hall was broken again)", "x")
    model, tok = load_model("tiny-gpt2")
    t = make_target(tok, it["text"], it["target"])
    ant, cl = tokens_in_span(t, it["antecedent_span"]), tokens_in_span(t, it["clause_span"])
    r = score_case(model, make_explainer("attention", model, tok), Case("x", t, gold=ant, evidence=ant, distractor=cl), draws=1, points=3)
    assert r["clause_mass"] == pytest.approx(mass_share(r["scores"], cl))
    assert r["dsa"] == pytest.approx(mass_share(r["scores"], ant) - r["clause_mass"])
    assert all(r[k] is not None for k in ("f1", "mrr", "top1", "ap"))


def test_registered_plugins_reach_the_runner(tmp_path):
    "A metric and an explainer defined outside the package are found by name by the runner, with no list to edit."
    import torch
    from heta.models import load_model
    from heta.attribution import Explainer, EXPLAINERS
    from heta.metrics import register_metric, METRICS
    from heta.evaluate import run
    class FirstToken(Explainer):
        "All mass on the first context token."
        method = "first-token"
        def _components(self, target, pbar=None):
            s = torch.zeros(target.target_pos); s[0] = 1.0
            return {"scores": s}
    register_metric("top_share", lambda s: float(s.scores.max() / s.scores.sum()), "The largest score's share of the mass")
    try:
        model, tok = load_model("toy-gpt2")
        tab = run("toy-gpt2", "toy", ["first-token", "attention"], tmp_path / "o", limit=3, progress=False, loaded=(model, tok),
                  metrics=["top_share", "f1"])
        assert tab.loc["first-token", "top_share"] == 1.0 and 0 < tab.loc["attention", "top_share"] < 1
        assert "soft_nc" not in tab and "f1" in tab                          # only the metrics asked for
        assert json.loads((tmp_path / "o" / "run.json").read_text())["metrics"] == ["top_share", "f1"]
        with pytest.raises(ValueError, match="other settings"):              # a resume with other metrics is refused
            run("toy-gpt2", "toy", ["attention"], tmp_path / "o", limit=3, progress=False, loaded=(model, tok))
        with pytest.raises(ValueError, match="unknown metric 'top_shar'"):
            run("toy-gpt2", "toy", ["attention"], tmp_path / "p", limit=3, progress=False, loaded=(model, tok), metrics=["top_shar"])
    finally:
        EXPLAINERS.remove("first-token"); METRICS.remove("top_share")


def test_units_through_the_cli(tmp_path):
    "heta evaluate --units words: HETA attributes words, other methods are summed per word; the run records it and resumes."
    from heta.cli import main
    out = tmp_path / "w"
    args = ["evaluate", "--model", "toy-gpt2", "--dataset", "toy", "--methods", "heta,occlusion", "--limit", "3", "--units", "words",
            "--metrics", "f1,soft_nc", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert json.loads((out / "run.json").read_text())["units"] == "words"
    recs = [json.loads(l) for l in (out / "results.jsonl").read_text().splitlines() if '"_random"' not in l]
    assert len(recs) == 6 and all(set(r) >= {"f1", "soft_nc"} and "deletion_auc" not in r for r in recs)
    no_units = [a for a in args if a not in ("--units", "words")]
    assert main(no_units) == 2                                             # the same folder without --units: refused, not mixed

"""Bad input, one table (issue 14): each row is something a new user may type and the error they should get.

A Python row is `(call, exception type, patterns)`: `call(env)` must raise the exception, and every regex in
`patterns` must be found in its message (what is wrong, and how to fix it). A CLI row is `(argv, exit code,
patterns)`: `heta.cli.main(argv)` runs in-process and the patterns are searched in stderr. CLI option errors must
be refused before any model loads: the model loader is replaced by one that checks the name (so a misspelt
--model still gets its message) and then fails the row. Every row runs offline with the network cut, so a hub id
that is not cached must be refused at once, not after a minute of retries.

Rows marked xfail(strict=True) are bugs found while writing this table; the reason says what happens."""
import re, socket, subprocess, sys, time
from pathlib import Path
from types import SimpleNamespace
import pytest

from heta.models import MODEL_NAMES   # the built-in names a refusal must list

@pytest.fixture(scope="module")
def env():
    "A tiny random GPT-2 with the real GPT-2 tokenizer and a cheap explainer on it."
    from heta.models import prepare_model, tiny_gpt2, gpt2_tokenizer
    from heta.attribution import HETA
    model, tok = prepare_model(tiny_gpt2(init_std=0.2)), gpt2_tokenizer()
    return SimpleNamespace(model=model, tok=tok, h=HETA(model, tok, n_probes=1),
                           HETA=lambda **kw: HETA(model, tok, **kw))

@pytest.fixture
def offline(monkeypatch):
    "HF_HUB_OFFLINE=1 (as huggingface_hub reads it at import: patch its constant too) and no sockets at all."
    import huggingface_hub.constants as hc
    monkeypatch.setenv("HF_HUB_OFFLINE", "1"); monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    def no_network(*a, **k): raise AssertionError(f"a bad-input row touched the network: {a[:2]}")
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)

def load_model(*a, **k):
    import heta.models
    return heta.models.load_model(*a, **k)
def make_target(e, *a, **k):
    from heta.targets import make_target
    return make_target(e.tok, *a, **k)

def row(id, call, expect, *patterns, bug=None):
    "One table row; `bug` (a reason) marks a case that fails today: xfail(strict=True)."
    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
    return pytest.param(call, expect, patterns, id=id, marks=marks)

LONG = " ".join(f"w{i}" for i in range(300))   # ~600 tokens: over tiny-gpt2's 256-token window

ROWS = [
    # --- models (issue 14, item 1)
    row("load-unknown-name", lambda e: load_model("no-such-model-xyz"), ValueError,
        r"'no-such-model-xyz' is neither a built-in model", *map(re.escape, MODEL_NAMES), r"offline"),
    row("load-typo-smollm2", lambda e: load_model("smollm2"), ValueError,
        r"'smollm2' is neither a built-in model", r"tiny-gpt2", r"Did you mean 'smollm2-135m'\?"),
    row("load-typo-case", lambda e: load_model("SmolLM2-135M"), ValueError,
        r"neither a built-in model", r"Did you mean 'smollm2-135m'\?"),
    row("load-missing-dir", lambda e: load_model("./nope/model"), ValueError,
        r"no such directory: '\./nope/model'", r"config\.json"),
    row("load-missing-home-dir", lambda e: load_model("~/no-such-heta-model-dir"), ValueError, r"no such directory"),
    row("load-uncached-hub-id", lambda e: load_model("no-such-org/no-such-model"), ValueError,
        r"'no-such-org/no-such-model' is neither a built-in model", r"local Hugging Face cache", r"offline"),
    row("load-model-without-tokenizer", lambda e: load_model(e.model), ValueError, r"tokenizer="),
    # --- targets and attribute() (item 3)
    row("target-merges-space", lambda e: e.h.attribute("He cut a ", target="slice"), ValueError,
        r"merges with the end of the text", r"move the space into the target", re.escape("target ' slice'")),
    row("target-merges-word", lambda e: e.h.attribute("Cam ordered a piz", target="za"), ValueError,
        r"merges with the end of the text", r"token boundary"),
    row("make-target-merges-space", lambda e: make_target(e, "He cut a ", "slice"), ValueError,
        r"merges with the end of the text", re.escape("text 'He cut a'")),
    row("make-target-merges-word", lambda e: make_target(e, "Cam ordered a piz", "za"), ValueError,
        r"merges with the end of the text", r"leading space"),
    row("target-only-spaces", lambda e: e.h.attribute("He cut a", target="   "), ValueError, r"only spaces", r"give a word"),
    row("target-single-space", lambda e: make_target(e, "He cut a", " "), ValueError, r"only spaces"),
    row("target-empty", lambda e: e.h.attribute("He cut a", target=""), ValueError, r"target string is empty"),
    row("target-not-a-string", lambda e: e.h.attribute("He cut a", target=5), ValueError,
        r"target=5", r"as a string"),
    row("text-empty", lambda e: e.h.attribute("", target=" x"), ValueError, r"text is empty"),
    row("text-whitespace", lambda e: e.h.attribute(" \n\t ", target=" x"), ValueError, r"text is empty"),
    row("text-not-a-string", lambda e: e.h.attribute(5, target=" x"), ValueError, r"\bstr", r"5"),
    row("target-and-target-pos", lambda e: e.h.attribute("a b c", target=" d", target_pos=1), ValueError,
        r"exactly one of target="),
    row("target-pos-zero", lambda e: e.h.attribute("abc def", target_pos=0), ValueError, r"target_pos=0 is outside 1\.\."),
    row("target-pos-float", lambda e: make_target(e, "abc def", target_pos=1.0), ValueError, r"target_pos=1\.0"),
    row("generate-zero", lambda e: e.h.attribute("ab", generate=0), ValueError, r"generate=0", r">= 1"),
    row("generate-float", lambda e: e.h.attribute("ab", generate=2.5), ValueError, r"generate=2\.5"),
    row("generate-and-target", lambda e: e.h.attribute("ab", target=" c", generate=2), ValueError, r"not both"),
    # --- generation and the model's window (item 2): refused before generating, on every path
    row("generate-over-window", lambda e: e.h.attribute(LONG, generate=1), ValueError,
        r"generating 1 more needs \d+ positions, over the model's window of 256", r"target="),
    row("no-target-over-window", lambda e: e.h.attribute(LONG), ValueError, r"over the model's window of 256"),
    # --- chat spans (item 8)
    row("restrict-unknown-part", lambda e: e.h.attribute("The cat sat", target=" on").restrict("template"), ValueError,
        r"the only part is 'source'"),
    row("chat-without-template", lambda e: e.h.attribute("ab", target=" c", chat=True), ValueError,
        r"no chat template", r"chat=False"),
    row("text-over-window", lambda e: e.HETA(n_probes=1, window=None).attribute(LONG, target=" end"), ValueError,
        r"over the model's window of 256", r"window"),
    # --- HETA constructor (item 6)
    row("n-probes-float", lambda e: e.HETA(n_probes=2.5), ValueError, r"n_probes=2\.5: give an integer >= 1"),
    row("n-probes-zero", lambda e: e.HETA(n_probes=0), ValueError, r"n_probes=0"),
    row("n-probes-bool", lambda e: e.HETA(n_probes=True), ValueError, r"n_probes=True"),
    row("batch-size-zero", lambda e: e.HETA(batch_size=0), ValueError, r"batch_size=0: give an integer >= 1"),
    row("beta-string", lambda e: e.HETA(beta="a"), ValueError, r"beta='a': give a number"),
    row("beta-negative", lambda e: e.HETA(beta=-1), ValueError, r"beta=-1: give a number >= 0"),
    row("gamma-nan", lambda e: e.HETA(gamma=float("nan")), ValueError, r"gamma=nan"),
    row("beta-inf", lambda e: e.HETA(beta=float("inf")), ValueError, r"beta=inf"),
    row("beta-gamma-zero", lambda e: e.HETA(beta=0, gamma=0), ValueError, r"both 0"),
    row("gate-mix-above-1", lambda e: e.HETA(gate_mix=2), ValueError, r"gate_mix=2: give a number in \[0, 1\]"),
    row("gate-power-negative", lambda e: e.HETA(gate_power=-1), ValueError, r"gate_power=-1"),
    row("window-string", lambda e: e.HETA(window="big"), ValueError, r"window='big'", r"'auto', None"),
    row("window-too-small", lambda e: e.HETA(window=3), ValueError, r"window=3 is too small", r"8"),
    row("window-bool", lambda e: e.HETA(window=True), ValueError, r"window=True"),
    row("tail-negative", lambda e: e.HETA(tail=-1), ValueError, r"tail=-1"),
    row("seed-string", lambda e: e.HETA(seed="a"), ValueError, r"seed='a'"),
    row("preset-unknown", lambda e: e.HETA(preset="fast"), ValueError, r"unknown preset 'fast'", r"grounded"),
    row("curvature-unknown", lambda e: e.HETA(curvature="foo"), ValueError, r"unknown curvature 'foo'", r"gauss-newton"),
    row("mask-unknown", lambda e: e.HETA(mask="foo"), ValueError, r"unknown mask 'foo'", r"zero"),
    row("unit-unknown", lambda e: e.HETA(unit="sentence"), ValueError, r"unknown unit 'sentence'", r"word"),
    row("normalize-unknown", lambda e: e.HETA(normalize="max"), ValueError, r"unknown normalize 'max'", r"rank"),
    row("unit-word-mask-delete", lambda e: e.HETA(unit="word", mask="delete"), ValueError,
        r"unit='word'", r"mask='delete'"),
    row("flow-unknown-key", lambda e: e.HETA(flow={"bogus": 1}), ValueError,
        r"flow options \['bogus'\] are unknown", r"semantic_flow takes", r"rollout"),
    row("flow-not-a-dict", lambda e: e.HETA(flow=3), ValueError, r"flow=3: give a dict"),
    row("flow-bad-value", lambda e: e.HETA(flow={"rollout": "x"}), ValueError, r"rollout='x' is not valid", r"per-head"),
    row("flow-bad-residual", lambda e: e.HETA(flow={"residual": 1}), ValueError, r"residual=1", r"0 <= r < 1"),
    row("curvature-options-unknown", lambda e: e.HETA(curvature_options={"bogus": 1}), ValueError,
        r"curvature_options \['bogus'\] do not apply to curvature='gauss-newton'", r"it takes \['curvature_dtype', 'last_k', 'top_k'\]"),
    row("curvature-options-wrong-mode", lambda e: e.HETA(curvature="exact", curvature_options={"top_k": 4}), ValueError,
        r"\['top_k'\] do not apply to curvature='exact'"),
    row("curvature-options-not-a-dict", lambda e: e.HETA(curvature_options=3), ValueError,
        r"curvature_options=3: give a dict"),
    # --- the CLI (item 5): option errors exit 2, before any model loads
    row("cli-curvature", ["attribute", "x", "--curvature", "foo"], 2, r"--curvature: invalid choice: 'foo'", r"gauss-newton"),
    row("cli-mask", ["attribute", "x", "--mask", "foo"], 2, r"--mask: invalid choice: 'foo'", r"'zero'"),
    row("cli-unit", ["attribute", "x", "--unit", "sentence"], 2, r"--unit: invalid choice"),
    row("cli-normalize", ["attribute", "x", "--normalize", "max"], 2, r"--normalize: invalid choice"),
    row("cli-preset", ["attribute", "x", "--preset", "nope"], 2, r"--preset: invalid choice: 'nope'", r"grounded"),
    row("cli-probes-zero", ["attribute", "x", "--probes", "0"], 2, r"--probes: '0' must be > 0"),
    row("cli-probes-float", ["attribute", "x", "--probes", "1.5"], 2, r"--probes: '1\.5' is not an integer"),
    row("cli-batch-size", ["attribute", "x", "--batch-size", "0"], 2, r"--batch-size: '0' must be > 0"),
    row("cli-demo-probes", ["demo", "--probes", "-3"], 2, r"--probes: '-3' must be > 0"),
    row("cli-window-word", ["attribute", "x", "--window", "big"], 2, r"--window"),
    row("cli-beta-word", ["attribute", "x", "--beta", "x"], 2, r"--beta: 'x' is not a number"),
    row("cli-empty-text", ["attribute", ""], 2, r"text is empty"),
    row("cli-window-small", ["attribute", "x", "--window", "3"], 2, r"window", r"8"),
    row("cli-beta-negative", ["attribute", "x", "--beta", "-1"], 2, r"--beta: '-1' must be a finite number >= 0"),
    row("cli-gamma-nan", ["attribute", "x", "--gamma", "nan"], 2, r"--gamma: 'nan' must be a finite number >= 0"),
    row("cli-word-delete", ["attribute", "x", "--unit", "word", "--mask", "delete"], 2, r"mask", r"delete"),
    row("cli-empty-target", ["attribute", "x", "--target", ""], 2, r"target string is empty"),
    row("cli-generate-zero", ["attribute", "x", "--generate", "0"], 2, r"generate"),
    row("cli-target-and-generate", ["attribute", "x", "--target", " y", "--generate", "2"], 2, r"not both|not allowed with"),
    row("cli-top-negative", ["attribute", "x", "--top", "-1"], 2, r"--top"),
    row("cli-model-typo", ["attribute", "x", "--model", "smollm2"], 2, r"Did you mean 'smollm2-135m'\?"),
    row("cli-model-missing-dir", ["attribute", "x", "--model", "./nope/model"], 2, r"no such directory"),
    row("cli-model-unknown", ["attribute", "x", "--model", "no-such-model-xyz"], 2, r"neither a built-in model", r"tiny-gpt2"),
    row("cli-unknown-command", ["explain", "x"], 2, r"invalid choice: 'explain'"),
    row("cli-evaluate-methods", ["evaluate", "--methods", "bogus"], 2, r"unknown method\(s\) bogus", r"use names from", r"occlusion"),
    row("cli-evaluate-methods-empty", ["evaluate", "--methods", " , "], 2, r"--methods is empty"),
    row("cli-evaluate-metrics", ["evaluate", "--metrics", "f1,aopc"], 2, r"unknown metric\(s\) aopc", r"aopc_comp"),
    row("cli-evaluate-units", ["evaluate", "--units", "paragraphs"], 2, r"--units: invalid choice: .paragraphs."),
    row("cli-evaluate-dataset-colon", ["evaluate", "--dataset", "toy:big"], 2, r"toy takes nothing after the name"),
    row("cli-evaluate-curvature", ["evaluate", "--curvature", "foo"], 2, r"--curvature: invalid choice"),
    row("cli-evaluate-limit", ["evaluate", "--limit", "0"], 2, r"--limit: '0' must be > 0"),
    row("cli-evaluate-chat", ["evaluate", "--chat", "maybe"], 2, r"--chat: invalid choice: 'maybe'"),
    row("cli-evaluate-model-typo", ["evaluate", "--model", "smollm2", "--methods", "heta"], 2, r"Did you mean 'smollm2-135m'\?"),
    row("cli-evaluate-draws", ["evaluate", "--draws", "0", "--methods", "heta"], 2, r"draws"),
    row("cli-evaluate-dataset", ["evaluate", "--dataset", "nope.jsonl", "--methods", "heta"], 2, r"nope\.jsonl"),
    # --- data-parallel runs and batches (issue 16, item 4)
    row("cli-attribute-no-text", ["attribute"], 2, r"give a TEXT to explain, or --batch FILE"),
    row("cli-batch-missing-file", ["attribute", "--batch", "nope.jsonl"], 2, r"--batch: 'nope\.jsonl' is not a file", r"JSON-lines"),
    row("cli-batch-and-text", ["attribute", "x", "--batch", "nope.jsonl"], 2, r"either a TEXT or --batch FILE, not both"),
    row("cli-batch-and-target", ["attribute", "--batch", "nope.jsonl", "--target", " y"], 2, r"--target cannot go with --batch"),
    row("cli-batch-and-json", ["attribute", "--batch", "nope.jsonl", "--json", "a.json"], 2, r"--json cannot go with --batch", r"--out"),
    row("cli-out-without-batch", ["attribute", "x", "--out", "o"], 2, r"--out: only with --batch"),
    row("cli-device-unknown", ["attribute", "x", "--device", "gpu"], 2, r"--device: unknown device 'gpu'", r"'cuda'"),
    row("cli-evaluate-device-unknown", ["evaluate", "--methods", "heta", "--device", "gpu0"], 2, r"--device: unknown device 'gpu0'"),
    row("cli-contrast-without-target", ["attribute", "x", "--contrast", " y", "--curvature", "exact"], 2, r"--contrast: give the target too"),
    row("cli-contrast-gauss-newton", ["attribute", "x", "--target", " y", "--contrast", " z"], 2, r"--contrast: needs --curvature exact or low-rank"),
    row("cli-contrast-with-batch", ["attribute", "--batch", "nope.jsonl", "--contrast", " z"], 2, r"--contrast cannot go with --batch"),
    row("cli-units-unknown", ["attribute", "x", "--units", "paragraphs"], 2, r"--units: 'paragraphs': give words, sentences or spans"),
    row("cli-units-with-generate", ["attribute", "x", "--generate", "2", "--units", "words"], 2, r"--units: one target at a time"),
    row("cli-units-with-batch", ["attribute", "--batch", "nope.jsonl", "--units", "words"], 2, r"--units cannot go with --batch"),
    row("cli-dtype-unknown", ["attribute", "x", "--dtype", "int8"], 2, r"--dtype: invalid choice: 'int8'", r"bfloat16"),
    row("cli-device-map-missing", ["attribute", "x", "--device-map", "nowhere.json"], 2, r"--device-map: 'nowhere\.json' is neither", r"auto"),
    row("cli-device-and-device-map", ["evaluate", "--methods", "heta", "--device", "cpu", "--device-map", "auto"], 2,
        r"--device \(one device\) or --device-map \(dispatch\), not both"),
]

def _guard_loader(monkeypatch):
    "Replace the model loader: the name is still checked (resolve_model_name is instant), then the row fails."
    import heta.models
    def loader(name_or_path, *a, **k):
        heta.models.resolve_model_name(str(name_or_path))
        raise AssertionError(f"the CLI reached the model loader ({name_or_path!r}) before refusing the bad option")
    monkeypatch.setattr(heta.models, "load_model", loader)

@pytest.mark.parametrize("call,expect,patterns", ROWS)
def test_bad_input(call, expect, patterns, env, offline, monkeypatch, capsys, tmp_path):
    if isinstance(call, list):   # a CLI row
        from heta.cli import main
        _guard_loader(monkeypatch)
        monkeypatch.chdir(tmp_path)   # evaluate writes its run folder relative to the working directory
        try: rc = main(call)
        except SystemExit as e: rc = e.code
        msg = capsys.readouterr().err
        assert rc == expect, f"heta {' '.join(call)}: exit {rc}, expected {expect}; stderr: {msg}"
    else:
        with pytest.raises(expect) as ei: call(env)
        msg = str(ei.value)
    for p in patterns: assert re.search(p, msg), f"{p!r} not found in the message: {msg}"

def test_bad_input_table_has_unique_ids():
    ids = [p.id for p in ROWS]
    assert len(ids) == len(set(ids))

@pytest.mark.parametrize("cmd", [
    pytest.param([str(Path(sys.executable).parent / "heta")], id="console-script"),
    pytest.param([sys.executable, "-m", "heta.cli"], id="python-m-heta.cli"),
])
def test_cli_option_error_exit_code_end_to_end(cmd, tmp_path):
    "The real process: an option error exits 2 with the argparse message, quickly (no model is loaded)."
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)}
    t0 = time.perf_counter()
    r = subprocess.run(cmd + ["attribute", "The cat sat", "--curvature", "foo"], capture_output=True, text=True,
                       timeout=120, env=env, cwd=tmp_path)
    took = time.perf_counter() - t0
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "--curvature: invalid choice: 'foo'" in r.stderr and r.stdout == ""
    assert took < 30, f"an option error took {took:.1f} s"   # the acceptance asks < 2 s; loose here for busy CI

def test_cli_version_and_help_show_defaults_and_choices(capsys):
    "Issue 14 item 5: --version exists; --help lists defaults and choices; attribute has the HETA weights and window."
    from heta.cli import main
    import heta
    with pytest.raises(SystemExit) as e: main(["--version"])
    assert e.value.code == 0 and f"heta {heta.__version__}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e: main(["attribute", "--help"])
    out = " ".join(capsys.readouterr().out.split())   # argparse wraps lines
    assert e.value.code == 0
    for opt in ("--window", "--beta", "--gamma", "--batch-size", "--probes"): assert opt in out
    assert "{zero,mean,pad,eos,unk,delete}" in out and "(default: smollm2-135m)" in out and "(default: 10)" in out
    with pytest.raises(SystemExit) as e: main(["evaluate", "--help"])
    assert e.value.code == 0 and "or all (see heta list) (default: all)" in " ".join(capsys.readouterr().out.split())

def test_cli_evaluate_names_only_files_it_wrote(monkeypatch, capsys, tmp_path):
    "Issue 14 item 5: when nothing survives, evaluate must not point to a plot it did not write."
    import pandas as pd, heta.evaluate
    from heta.cli import main
    monkeypatch.setattr(heta.evaluate, "run", lambda *a, **k: pd.DataFrame())   # an evaluation where nothing survived
    assert main(["evaluate", "--methods", "heta", "--out", str(tmp_path / "ev"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "no case survived" in out
    assert "summary.png" not in out or (tmp_path / "ev" / "summary.png").exists(), out

def test_cli_evaluate_default_out_is_under_runs(monkeypatch, capsys, tmp_path):
    "Found while probing item 5: the default output folder of `heta evaluate` (model and dataset names made path-safe)."
    import pandas as pd, heta.evaluate
    from heta.cli import main
    seen = {}
    monkeypatch.setattr(heta.evaluate, "run", lambda model, dataset, methods, out, **k: seen.setdefault("out", out) and pd.DataFrame())
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org" / "some-model").mkdir(parents=True)   # a local model folder: its name passes the CLI's check offline too
    main(["evaluate", "--model", "org/some-model", "--dataset", "curated:test", "--methods", "heta", "--quiet"])
    assert seen["out"].startswith("runs/eval-") and seen["out"].count("/") == 1, seen["out"]

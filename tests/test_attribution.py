"""HETA end to end: parity with a naive per-token composition, the result object, CLI, windows, bad input."""
import json, subprocess, sys
from pathlib import Path
import numpy as np, pytest, torch
from heta.models import prepare_model, tiny_gpt2, tiny_llama
from heta.targets import make_target
from heta.attribution import HETA, Attribution
from heta.flow import semantic_flow_naive
from heta.curvature import hessian_sensitivity_naive
from heta.information import kl_information_naive

@pytest.fixture(scope="module")
def gpt2():
    return prepare_model(tiny_gpt2(init_std=0.2))

def naive_heta(model, target, beta, gamma, n_probes, seed, normalize):
    """Eq. 5 composed by hand from the per-token reference loops of each component."""
    gate = semantic_flow_naive(model, target)
    S = hessian_sensitivity_naive(model, target, n_probes=n_probes, seed=seed)
    I = kl_information_naive(model, target)
    Sn, In = (S / S.sum(), I / I.sum()) if normalize == "sum" else (S, I)
    return gate * (beta * Sn + gamma * In), gate, S, I

@pytest.mark.parametrize("normalize", ["sum", "none"])
@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_pipeline_matches_naive(gpt2, gpt2_tok, normalize, arch):
    model = gpt2 if arch == "gpt2" else prepare_model(tiny_llama())
    text, target = "Cam ordered a pizza and took it home. He cut a", " slice"
    a = HETA(model, gpt2_tok, preset="classic", beta=0.3, gamma=0.7, n_probes=3, seed=5, normalize=normalize).attribute(text, target=target)
    ref, gate, S, I = naive_heta(model, make_target(gpt2_tok, text, target), 0.3, 0.7, 3, 5, normalize)
    np.testing.assert_allclose(a.gate, gate.numpy(), atol=1e-5)
    np.testing.assert_allclose(a.curvature, S.numpy(), rtol=1e-4, atol=1e-6 * float(S.abs().max()))
    np.testing.assert_allclose(a.information, I.numpy(), atol=1e-5)
    scale = float(np.abs(ref.numpy()).max())
    np.testing.assert_allclose(a.scores, ref.numpy(), atol=1e-5 * max(scale, 1.0))

def naive_word_information(model, target, units):
    "KL of the next-token distribution when each unit is zero-masked, one forward pass per unit, shared by its tokens."
    from heta.targets import input_embeddings, next_logprobs
    X = input_embeddings(model, target.context_ids)[0]
    with torch.no_grad():
        p = next_logprobs(model, X[None])[0].double()
        out = torch.zeros(target.target_pos, dtype=torch.float64)
        for u in units:
            Xm = X.clone(); Xm[u] = 0
            q = next_logprobs(model, Xm[None])[0].double()
            out[u] = (p.exp() * (p - q)).sum() / len(u)
    return out

@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_grounded_preset_matches_naive(gpt2, gpt2_tok, arch):
    "The default preset: rank-normalised S (Gauss-Newton) and whole-word I under a shaped gate, composed by hand."
    from heta.attribution import PRESETS, shape_gate
    from heta.curvature import hessian_sensitivity
    from heta.information import word_units
    model = gpt2 if arch == "gpt2" else prepare_model(tiny_llama())
    text, target = "Dr. Vrenmiquel ordered a pizza and took it home. He cut a", " slice"
    a = HETA(model, gpt2_tok, n_probes=3, seed=5).attribute(text, target=target)
    t = make_target(gpt2_tok, text, target); p = PRESETS["grounded"]
    gate = semantic_flow_naive(model, t)
    S = hessian_sensitivity(model, t, mode=p["curvature"], n_probes=3, seed=5)
    I = naive_word_information(model, t, word_units(t.context_tokens, t.context_offsets))
    def ranks(x):   # 1 = smallest, ties share their mean rank, scaled to sum 1
        x = np.asarray(x, dtype=np.float64); r = np.array([(x < v).sum() + ((x == v).sum() + 1) / 2 for v in x])
        return r / r.sum()
    norm = ranks if p["normalize"] == "rank" else (lambda x: np.asarray(x) / np.sum(x))
    g = shape_gate(gate, p["gate_pred"], p["gate_power"], p["gate_mix"]).numpy()
    ref = g * (p["beta"] * norm(S.numpy()) + p["gamma"] * norm(I.numpy()))
    np.testing.assert_allclose(a.information, I.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(a.scores, ref, rtol=1e-3, atol=1e-4 * float(np.abs(ref).max()))   # KL of near-equal float32 logits
    assert a.settings["preset"] == "grounded"

def test_save_load_round_trip(gpt2, gpt2_tok, tmp_path):
    a = HETA(gpt2, gpt2_tok, n_probes=2).attribute("Hello <world> & \"friends\"\n\tagain", target=" end")
    a.save(tmp_path / "sub" / "a.json")
    b = Attribution.load(tmp_path / "sub" / "a.json")
    for k in ("scores", "gate", "curvature", "information"):
        assert getattr(a, k).dtype == getattr(b, k).dtype and getattr(a, k).tobytes() == getattr(b, k).tobytes()
    assert (a.tokens, a.offsets, a.target, a.settings, a.versions, a.model) == (b.tokens, b.offsets, b.target, b.settings, b.versions, b.model)
    assert b.seed == 0 and "torch" in b.versions

def test_generation_matrix_round_trip(gpt2, gpt2_tok, tmp_path):
    g = HETA(gpt2, gpt2_tok, n_probes=1, curvature="gauss-newton").attribute("one two three", generate=2)
    assert g.scores.shape == (2, 4) and g.scores[0, 3] == 0
    g.save(tmp_path / "g.json"); h = Attribution.load(tmp_path / "g.json")
    assert h.scores.shape == (2, 4) and h.targets == g.targets

def test_words_merge_subwords(gpt2, gpt2_tok):
    a = HETA(gpt2, gpt2_tok, n_probes=1).attribute("An unbelievably tremendous", target=" end")
    words = a.words()
    assert [w[0] for w in words] == ["An", "unbelievably", "tremendous"]
    assert sum(w[3] for w in words) == pytest.approx(float(a.scores.sum()), rel=1e-5)

def test_window_longer_than_model(gpt2_tok):
    model = prepare_model(tiny_gpt2(n_positions=64, init_std=0.2))
    text = " ".join(f"w{i}" for i in range(80))
    h = HETA(model, gpt2_tok, n_probes=1, curvature="gauss-newton")     # window="auto" -> the model's 64
    a = h.attribute(text, target=" end")
    assert len(a.tokens) > 64 and np.isfinite(a.scores).all() and np.isfinite(a.curvature).all()
    assert (a.information > 0).sum() > 64 // 2
    with pytest.raises(ValueError, match="over the model's window"):
        HETA(model, gpt2_tok, window=None).attribute(text, target=" end")

@pytest.mark.parametrize("kw,msg", [(dict(beta=-0.1), "beta=-0.1"), (dict(gamma=-1), "gamma=-1"),
                                    (dict(n_probes=0), "n_probes=0"), (dict(n_probes=2.5), "an integer"),
                                    (dict(beta="a"), "give a number"), (dict(preset="fast"), "unknown preset"),
                                    (dict(flow={"bogus": 1}), "bogus"), (dict(window="big"), "window"),
                                    (dict(curvature="exact", curvature_options={"top_k": 4}), "do not apply"),
                                    (dict(unit="sentence"), "unknown unit"), (dict(gate_power=-1), "gate_power=-1"), (dict(mask="x"), "unknown mask"),
                                    (dict(curvature="x"), "unknown curvature"), (dict(normalize="max"), "unknown normalize"),
                                    (dict(beta=0, gamma=0), "both 0")])
def test_bad_settings(gpt2, gpt2_tok, kw, msg):
    with pytest.raises(ValueError, match=msg): HETA(gpt2, gpt2_tok, **kw)

@pytest.mark.parametrize("kw,msg", [(dict(text="", target=" x"), "text is empty"), (dict(text="ab", target=""), "target string is empty"),
                                    (dict(text="ab cd", target_pos=0), "outside"), (dict(text="ab", generate=0), "generate"),
                                    (dict(text="ab", target=" c", generate=2), "not both")])
def test_bad_input(gpt2, gpt2_tok, kw, msg):
    with pytest.raises(ValueError, match=msg): HETA(gpt2, gpt2_tok, n_probes=1).attribute(**kw)

def test_cli_writes_valid_json(tmp_path):
    heta = Path(sys.executable).parent / "heta"
    r = subprocess.run([str(heta), "attribute", "The cat sat on the", "--target", " mat", "--model", "tiny-gpt2", "--probes", "2",
                        "--json", str(tmp_path / "a.json"), "--html", str(tmp_path / "a.html"), "--top", "3", "--no-color"],
                       capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    d = json.loads((tmp_path / "a.json").read_text())
    assert d["target"]["text"] == " mat" and len(d["scores"]) == len(d["tokens"]) == 5
    assert "heta-attr-tok-4" in (tmp_path / "a.html").read_text()
    assert "   1  " in r.stdout
    bad = subprocess.run([str(heta), "attribute", "", "--model", "tiny-gpt2"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "text is empty" in bad.stderr

def test_contrast_components_equal_their_references(models, gpt2_tok, tmp_path):
    "A contrastive target: S is the loop's curvature of log p(A) - log p(B), I the log-odds shift one mask at a time."
    from heta.targets import make_target, with_contrast, input_embeddings, next_logprobs
    from heta.curvature import hessian_sensitivity_naive
    from heta.information import mask_embedding
    from heta.attribution import HETA, Attribution
    m = models["gpt2"]
    h = HETA(m, gpt2_tok, curvature="exact", unit="token", n_probes=3, seed=2)
    a = h.attribute("The cat sat on the mat and", target=" purred", contrast=" slept")
    t = with_contrast(gpt2_tok, make_target(gpt2_tok, "The cat sat on the mat and", " purred"), " slept").step(0)   # " purred" is 2 tokens: the first
    np.testing.assert_allclose(a.curvature, hessian_sensitivity_naive(m, t, n_probes=3, seed=2).numpy(), rtol=1e-4)
    X = input_embeddings(m, t.context_ids); z = mask_embedding(m, "zero")
    odds = lambda Y: (lambda lp: lp[0, t.target_id] - lp[0, t.contrast_id])(next_logprobs(m, Y))
    ref = []
    for i in range(t.target_pos):
        Y = X.clone(); Y[0, i] = z; ref.append(float((odds(X) - odds(Y)).abs()))
    np.testing.assert_allclose(a.information, ref, rtol=1e-4, atol=1e-6)
    assert a.target["contrast"] == " slept"
    a.save(tmp_path / "c.json"); assert Attribution.load(tmp_path / "c.json").target["contrast"] == " slept"
    plain = h.attribute("The cat sat on the mat and", target=" purred")
    assert not np.allclose(plain.information, a.information)

def test_cli_contrast_end_to_end():
    import contextlib, io
    from heta.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["attribute", "The cat sat on the mat and", "--target", " purred", "--contrast", " slept", "--model", "tiny-gpt2",
                   "--curvature", "exact", "--probes", "2", "--quiet", "--no-color", "--json", "", "--html", ""])
    assert rc == 0 and "-> target ' pur' rather than ' slept'" in out.getvalue()   # the first token of ' purred'

def test_contrast_survives_windows(models, gpt2_tok):
    "A long context goes through sliding windows: each window keeps the contrast (its S and I are the log-odds ones)."
    from heta.attribution import HETA
    text = " ".join(["the cat sat on the mat"] * 6)
    kw = dict(curvature="exact", n_probes=2, unit="token", window=16, tail=4)
    a = HETA(models["gpt2"], gpt2_tok, **kw).attribute(text, target=" and", contrast=" but")
    b = HETA(models["gpt2"], gpt2_tok, **kw).attribute(text, target=" and")
    assert a.target["contrast"] == " but" and not np.allclose(a.information, b.information)

def test_cli_units_end_to_end(tmp_path):
    import contextlib, io
    from heta.cli import main
    from heta.attribution import Attribution
    out = io.StringIO()
    text = "Cam ordered a pizza. He took it home. He had to cut a"
    with contextlib.redirect_stdout(out):
        rc = main(["attribute", text, "--target", " slice", "--units", "sentences", "--model", "tiny-gpt2", "--probes", "2",
                   "--quiet", "--no-color", "--json", str(tmp_path / "u.json"), "--html", ""])
    a = Attribution.load(tmp_path / "u.json")
    assert rc == 0 and a.tokens == ["Cam ordered a pizza.", " He took it home.", " He had to cut a"] and a.settings["units"] == "sentences"
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["attribute", text, "--target", " slice", "--units", "[[4, 19]]", "--model", "tiny-gpt2", "--probes", "2",
                   "--quiet", "--no-color", "--json", str(tmp_path / "s.json"), "--html", ""])
    assert rc == 0 and [w.strip() for w in Attribution.load(tmp_path / "s.json").tokens][:2] == ["Cam", "ordered a pizza"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as stop:   # refused by the parser, before any model loads
        main(["attribute", text, "--target", " slice", "--units", "[[4, 19], [10, 30]]", "--model", "tiny-gpt2", "--quiet"])
    assert stop.value.code == 2 and "not overlap" in err.getvalue()

def test_units_refuse_last_k_instead_of_ignoring_it(models, gpt2_tok):
    from heta.attribution import HETA
    h = HETA(models["gpt2"], gpt2_tok, curvature="exact", n_probes=2, curvature_options={"last_k": 1})
    with pytest.raises(ValueError, match="drop last_k"): h.attribute("The cat sat on the mat and", target=" purred", units="words")

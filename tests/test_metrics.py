"""Faithfulness metrics: deterministic under a seed, batched equals looped, known answers, and clear errors."""
import math, warnings
import numpy as np, pytest, torch
from heta.models import prepare_model, tiny_gpt2, tiny_llama
from heta.targets import make_target
from heta.attribution import Attribution
from heta.baselines import make_explainer
from heta.metrics import (check_scores, target_of, masked_logprobs, masked_logprobs_naive, deleted_logprobs,
                          soft_scores, soft_scores_naive, soft_ns, soft_nc, soft_random, random_distribution, log_ratio,
                          hard_scores, hard_scores_naive, curves, curves_naive, faithfulness, dsa, token_f1, find_spans,
                          sensitivity, paraphrase_agreement, to_distribution, hellinger_d)

TEXT, Y = "Cam ordered a pizza and took it home. He cut a", " slice"

@pytest.fixture(scope="module")
def target(gpt2_tok): return make_target(gpt2_tok, TEXT, Y)

@pytest.fixture(scope="module")
def signed_attr(models, gpt2_tok):
    return make_explainer("input-x-gradient", models["gpt2"], gpt2_tok).attribute(TEXT, target=Y)

def _scores(n, seed=0): return np.random.default_rng(seed).normal(size=n)   # signed on purpose

# --- batched equals looped -------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_masked_logprobs_batched_equals_naive(models, target, arch):
    m = models[arch]
    g = torch.Generator().manual_seed(1)
    for shape in ((6, target.target_pos), (6, target.target_pos, 64)):
        K = torch.rand(*shape, generator=g) < 0.5
        for bs in (1, 4, 32):
            torch.testing.assert_close(masked_logprobs(m, target, K, bs), masked_logprobs_naive(m, target, K), atol=2e-5, rtol=0)

@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("normalize", ["sum", "softmax", "max"])
def test_soft_batched_equals_naive(models, target, arch, normalize):
    s = _scores(target.target_pos)
    b = soft_scores(models[arch], s, target, draws=3, seed=4, normalize=normalize, batch_size=4)
    l = soft_scores_naive(models[arch], s, target, draws=3, seed=4, normalize=normalize)
    np.testing.assert_allclose(b["ns_draws"], l["ns_draws"], atol=1e-6)
    np.testing.assert_allclose(b["nc_draws"], l["nc_draws"], atol=1e-6)
    assert b["soft_ns"] == pytest.approx(l["soft_ns"], abs=1e-6) and b["d0"] == pytest.approx(l["d0"], rel=1e-6)

@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("mask", ["zero", "delete"])
def test_hard_batched_equals_naive(models, target, arch, mask):
    s = _scores(target.target_pos, 2)
    for ks in ((0.1, 0.2, 0.3), (0.5, 1.0)):
        if mask == "delete" and 1.0 in ks: continue
        b = hard_scores(models[arch], s, target, ks=ks, mask=mask, batch_size=2)
        l = hard_scores_naive(models[arch], s, target, ks=ks, mask=mask)
        for key in ("comprehensiveness", "sufficiency"):
            np.testing.assert_allclose(list(b[key].values()), list(l[key].values()), atol=1e-6)
        assert b["aopc_comp"] == pytest.approx(l["aopc_comp"], abs=1e-6)

@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_curves_batched_equals_naive(models, target, arch):
    s = _scores(target.target_pos, 3)
    b, l = curves(models[arch], s, target, batch_size=3), curves_naive(models[arch], s, target)
    np.testing.assert_allclose(b["deletion"], l["deletion"], atol=1e-6)
    np.testing.assert_allclose(b["insertion"], l["insertion"], atol=1e-6)
    assert b["deletion_auc"] == pytest.approx(l["deletion_auc"], abs=1e-6)

def test_deleted_logprobs_equals_retokenised_ids(models, target):
    m = models["llama"]
    K = torch.ones(3, target.target_pos, dtype=torch.bool); K[0, 2] = False; K[1, [0, 4, 5]] = False; K[2, -1] = False
    out = deleted_logprobs(m, target, K, batch_size=1)
    for b in range(3):
        ids = target.context_ids[K[b]]
        ref = torch.log_softmax(m(ids[None]).logits[0, -1].double(), -1)[target.target_id]
        assert float(out[b]) == pytest.approx(float(ref), abs=2e-5)

# --- determinism under a seed ----------------------------------------------------------------------------------
def test_deterministic_under_seed(models, target, gpt2_tok):
    m, s = models["gpt2"], _scores(target.target_pos)
    a, b = soft_scores(m, s, target, draws=3, seed=7), soft_scores(m, s, target, draws=3, seed=7)
    assert a["ns_draws"].tobytes() == b["ns_draws"].tobytes() and a["nc_draws"].tobytes() == b["nc_draws"].tobytes()
    c = soft_scores(m, s, target, draws=3, seed=8)
    assert not np.array_equal(a["nc_draws"], c["nc_draws"])
    assert random_distribution(10, 3).tobytes() == random_distribution(10, 3).tobytes()
    r1 = soft_random(m, target, np.random.default_rng(5), draws=2, seed=1)
    r2 = soft_random(m, target, np.random.default_rng(5), draws=2, seed=1)
    assert r1["soft_nc"] == r2["soft_nc"]
    f1, f2 = faithfulness(m, s, target, draws=2, seed=3), faithfulness(m, s, target, draws=2, seed=3)
    assert f1 == f2
    sal = make_explainer("saliency", m, gpt2_tok)
    v1 = sensitivity(sal, target, sigma=0.1, samples=3, seed=2, reduce="none")
    v2 = sensitivity(sal, target, sigma=0.1, samples=3, seed=2, reduce="none")
    assert v1.tobytes() == v2.tobytes() and (v1 > 0).all()
    assert not np.array_equal(v1, sensitivity(sal, target, sigma=0.1, samples=3, seed=3, reduce="none"))

def test_reagent_protocol_unseeded_single_draw(models, target):
    s = _scores(target.target_pos)
    r = soft_scores(models["gpt2"], s, target, draws=1, seed=None)
    assert r["ns_draws"].shape == (1,) and 0 <= r["soft_ns"] <= 1 and r["soft_nc"] >= 0

# --- rejects bad input with a clear error ----------------------------------------------------------------------
BAD = {"short": lambda n: np.ones(n - 1), "long": lambda n: np.ones(n + 2),
       "nan": lambda n: np.r_[np.ones(n - 1), np.nan], "inf": lambda n: np.r_[np.inf, np.ones(n - 1)]}

@pytest.mark.parametrize("bad", list(BAD))
@pytest.mark.parametrize("fn", ["soft_scores", "soft_ns", "soft_nc", "hard_scores", "curves", "faithfulness",
                                "soft_scores_naive", "hard_scores_naive", "curves_naive"])
def test_model_metrics_reject_bad_scores(models, target, bad, fn):
    f = globals()[fn]
    s = BAD[bad](target.target_pos)
    msg = "NaN or infinite" if bad in ("nan", "inf") else "scores for"
    with pytest.raises(ValueError, match=msg): f(models["gpt2"], s, target)

@pytest.mark.parametrize("bad", list(BAD))
def test_segment_metrics_reject_nan(bad):
    s = BAD[bad](6)
    if bad in ("nan", "inf"):
        with pytest.raises(ValueError, match="NaN or infinite"): dsa(s, [0], [1])
        with pytest.raises(ValueError, match="NaN or infinite"): token_f1(s, [0])

def test_attribution_inputs_checked(models, target, gpt2_tok, signed_attr):
    m = models["gpt2"]
    with pytest.raises(ValueError, match="another target"):
        soft_scores(m, signed_attr, make_target(gpt2_tok, TEXT, " pie"))
    with pytest.raises(ValueError, match="give the heta Target"): soft_scores(m, signed_attr.scores, None)
    g = make_explainer("saliency", m, gpt2_tok).attribute("The cat sat on the", generate=2)
    with pytest.raises(ValueError, match="generation matrix"): check_scores(g)
    with pytest.raises(ValueError, match="evaluate one next-token prediction"):
        soft_scores(m, np.ones(5), make_target(gpt2_tok, "The capital of France is", " Paris, of course"))
    nan = Attribution(**{**signed_attr.__dict__, "scores": np.r_[np.nan, signed_attr.scores[1:]]})
    with pytest.raises(ValueError, match="NaN"): hard_scores(m, nan, gpt2_tok)
    assert soft_ns(m, signed_attr, gpt2_tok, draws=2) == soft_scores(m, signed_attr.scores, target, draws=2)["soft_ns"]

def test_target_of_refuses_other_tokenizer(signed_attr):
    from heta.toy import toy_tokenizer
    with pytest.raises(ValueError, match="does not give its tokens"): target_of(signed_attr, toy_tokenizer())

def test_option_errors(models, target):
    m, s = models["gpt2"], np.ones(target.target_pos)
    with pytest.raises(ValueError, match="draws="): soft_scores(m, s, target, draws=0)
    with pytest.raises(ValueError, match="normalize="): soft_scores(m, s, target, normalize="rank")
    with pytest.raises(ValueError, match="signed="): soft_scores(m, s, target, signed="square")
    with pytest.raises(ValueError, match="fractions"): hard_scores(m, s, target, ks=(0.0, 0.2))
    with pytest.raises(ValueError, match="deletes every"): hard_scores(m, s, target, ks=(1.0,), mask="delete")
    with pytest.raises(ValueError, match="points="): curves(m, s, target, points=1)
    with pytest.raises(ValueError, match="one random value per example"): log_ratio([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="NaN"): log_ratio([1.0, np.nan], [1.0, 1.0])

# --- known answers ---------------------------------------------------------------------------------------------
def test_signed_policies(signed_attr):
    s = signed_attr.scores.astype(np.float64)
    assert (s < 0).any()
    np.testing.assert_array_equal(check_scores(signed_attr), np.abs(s))
    np.testing.assert_array_equal(check_scores(signed_attr, signed="clip"), np.clip(s, 0, None))

def test_soft_extremes(models, target):
    m = models["llama"]
    full = soft_scores(m, np.ones(target.target_pos), target, normalize="max", draws=2)
    assert full["soft_ns"] == pytest.approx(1.0, abs=1e-9) and full["soft_nc"] == pytest.approx(1.0, abs=1e-6)
    p = torch.log(torch.tensor([0.2, 0.8, 0.0]).double()); q = torch.log(torch.tensor([0.0, 0.0, 1.0]).double())
    assert float(hellinger_d(p, q)) == pytest.approx(math.sqrt(2)) and float(hellinger_d(p, p)) == 0
    np.testing.assert_allclose(to_distribution(np.zeros(4)), np.full(4, 0.25))

def test_curve_endpoints_and_hard_full_keep(models, target):
    m, s = models["gpt2"], _scores(target.target_pos, 5)
    c = curves(m, s, target)
    assert c["deletion"][0] == pytest.approx(c["insertion"][-1]) and c["deletion"][-1] == pytest.approx(c["insertion"][0])
    h = hard_scores(m, s, target, ks=(1.0,))
    assert h["sufficiency"][1.0] == pytest.approx(0.0, abs=1e-9)

def test_dsa_bounds_and_spans(gpt2_tok, signed_attr):
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = rng.integers(3, 12); perm = rng.permutation(n); k = rng.integers(1, n)
        v = dsa(rng.normal(size=n), perm[:k].tolist(), perm[k:].tolist())
        assert -1 - 1e-12 <= v <= 1 + 1e-12
    assert dsa([0, 3, 0], [1], [0, 2]) == 1.0 and dsa([2, 0, 1], [1], [0, 2]) == -1.0
    ev, di = find_spans(TEXT, "pizza"), find_spans(TEXT, "took it home")
    assert dsa(signed_attr, ev, di) == pytest.approx(dsa(signed_attr.scores, [3], [5, 6, 7]))
    with pytest.raises(ValueError, match="overlap"): dsa([1, 2, 3], [0, 1], [1])
    with pytest.raises(ValueError, match="not a mix"): dsa([1, 2, 3], [0, (1, 2)], [2])
    with pytest.raises(ValueError, match="does not occur"): find_spans(TEXT, "burger")

def test_token_f1_expected_over_ties():
    assert token_f1([0.0, 5.0, 1.0], [1]) == 1.0 and token_f1([5.0, 0.0, 1.0], [1]) == 0.0
    assert token_f1(np.ones(5), [2]) == pytest.approx(0.2)
    assert token_f1([2.0, 1.0, 1.0, 1.0], [0, 3]) == pytest.approx((1 + 1 / 3) / 2)
    # a k of 2 against one gold token: F1 = 2 * hits / (k + |gold|)
    assert token_f1([0.0, 5.0, 1.0], [1], k=2) == pytest.approx(2 / 3)

def _fake(text, scores):
    words = text.split()
    toks = [(" " if i else "") + w for i, w in enumerate(words)]
    offs, pos = [], 0
    for tk in toks: offs.append((pos + tk.startswith(" "), pos + len(tk))); pos += len(tk)
    return Attribution(text=text, tokens=toks, offsets=offs, target={"text": " x", "ids": [0], "pos": len(toks), "id": 0},
                       scores=np.array([scores.get(w.lower(), 0.0) for w in words]))

def test_paraphrase_agreement_known_answers():
    act, pas = "The old chef slowly cooked the spicy soup", "The spicy soup was slowly cooked by the old chef"
    sc = {"old": 1, "chef": 2, "slowly": 3, "cooked": 4, "spicy": 5, "soup": 6}
    assert paraphrase_agreement(_fake(act, sc), _fake(pas, sc)) == pytest.approx(1.0)
    assert paraphrase_agreement(_fake(act, sc), _fake(pas, {k: -v for k, v in sc.items()}), signed="clip") != 1.0
    assert paraphrase_agreement(_fake(act, sc), _fake(pas, {k: 7 - v for k, v in sc.items()})) == pytest.approx(-1.0)
    assert paraphrase_agreement(_fake(act, sc), _fake(pas, sc), pairs=[(1, 8), (2, 9), (4, 5)]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="only 0 aligned"): paraphrase_agreement(_fake("a b c", {}), _fake("d e f", {}))
    with pytest.raises(ValueError, match="out of range"): paraphrase_agreement(_fake(act, sc), _fake(pas, sc), pairs=[(0, 50)] * 3)
    nan = _fake(act, sc); nan.scores[0] = np.nan
    with pytest.raises(ValueError, match="NaN"): paraphrase_agreement(nan, _fake(pas, sc))

def test_sensitivity_known_answers(models, target, gpt2_tok):
    m = models["gpt2"]
    sal = make_explainer("saliency", m, gpt2_tok)
    assert sensitivity(sal, target, sigma=0.0, samples=2) == 0.0
    assert sensitivity(make_explainer("random", m, gpt2_tok), target, sigma=1.0, samples=2) == 0.0
    lo, hi = (sensitivity(sal, target, sigma=s, samples=3, reduce="mean") for s in (0.02, 0.4))
    assert 0 < lo < hi <= 1
    assert sensitivity(sal, target, sigma=0.1, samples=4, reduce="max") >= sensitivity(sal, target, sigma=0.1, samples=4, reduce="mean")
    assert len(m.get_input_embeddings()._forward_hooks) == 0
    with pytest.raises(ValueError, match="sigma="): sensitivity(sal, target, sigma=-1.0)

# --- ranking against gold and mass share -----------------------------------------------------------------------
from heta.metrics import reciprocal_rank, top1, average_precision, mass_share
import itertools

def _over_tie_orders(s, G):
    "(RR, top-1, AP) by their plain definitions, averaged over every order of the tied tokens."
    groups = [np.flatnonzero(s == v).tolist() for v in np.unique(s)[::-1]]
    out = []
    for orders in itertools.product(*[itertools.permutations(g) for g in groups]):
        order = [i for o in orders for i in o]
        ranks = sorted(order.index(i) + 1 for i in G)
        out.append((1 / ranks[0], float(order[0] in G), np.mean([(k + 1) / r for k, r in enumerate(ranks)])))
    return np.mean(out, axis=0)

def test_ranking_metrics_hand_computed():
    s = [0.1, 0.5, 0.3, 0.2]                                   # ranking 1, 2, 3, 0
    assert reciprocal_rank(s, [2, 3]) == 0.5 and top1(s, [2, 3]) == 0.0
    assert average_precision(s, [2, 3]) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert reciprocal_rank(s, [1]) == average_precision(s, [1]) == top1(s, [1]) == 1.0
    assert reciprocal_rank(s, [0]) == average_precision(s, [0]) == pytest.approx(0.25)
    assert reciprocal_rank([0.0, -3.0, 1.0], [1]) == 1.0                                  # |score| by default
    assert reciprocal_rank([0.0, -3.0, 1.0], [1], signed="clip") == pytest.approx((1 / 2 + 1 / 3) / 2)  # clipped to 0: tied with token 0 at ranks 2-3

def test_ranking_metrics_expected_over_ties():
    assert reciprocal_rank(np.ones(4), [0]) == pytest.approx(25 / 48) == reciprocal_rank(np.ones(4), [3])
    assert reciprocal_rank(np.ones(4), [1, 2]) == pytest.approx(13 / 18)
    assert top1([2.0, 2.0, 2.0, 0.0], [0, 3]) == pytest.approx(1 / 3)
    assert average_precision(np.ones(5), [4]) == pytest.approx(np.mean(1 / np.arange(1, 6)))
    rng = np.random.default_rng(1)
    for _ in range(150):
        n = int(rng.integers(1, 7)); s = rng.integers(0, 3, n).astype(float)
        G = sorted(rng.choice(n, int(rng.integers(1, n + 1)), replace=False).tolist())
        np.testing.assert_allclose([reciprocal_rank(s, G), top1(s, G), average_precision(s, G)], _over_tie_orders(s, G), atol=1e-12)

def test_ranking_metrics_bounds_and_spans(signed_attr):
    rng = np.random.default_rng(2)
    for _ in range(100):
        n = int(rng.integers(2, 30)); s = rng.normal(size=n); G = rng.choice(n, int(rng.integers(1, n)), replace=False).tolist()
        for f in (reciprocal_rank, top1, average_precision): assert 0 <= f(s, G) <= 1
        assert 1 / n - 1e-12 <= reciprocal_rank(s, G)
    sp = find_spans(TEXT, "pizza")
    for f in (reciprocal_rank, top1, average_precision):
        assert f(signed_attr, sp) == f(signed_attr.scores, [3])
    with pytest.raises(ValueError, match="gold set is empty"): reciprocal_rank([1.0, 2.0], [])
    with pytest.raises(ValueError, match="outside the context"): average_precision([1.0, 2.0], [5])
    with pytest.raises(ValueError, match="NaN"): top1([1.0, np.nan], [0])

def test_mass_share_hand_computed(signed_attr):
    assert mass_share([1.0, 2.0, 3.0, 4.0], [3]) == pytest.approx(0.4)
    assert mass_share([1.0, -2.0, 3.0, -4.0], [1, 3]) == pytest.approx(0.6)
    assert mass_share([1.0, -2.0, 3.0, -4.0], [1, 3], signed="clip") == 0.0
    assert mass_share(np.zeros(4), [0]) == 0.25
    s = np.random.default_rng(3).normal(size=9)
    assert mass_share(s, [0, 1]) - mass_share(s, [5, 6, 7]) == pytest.approx(dsa(s, [0, 1], [5, 6, 7]))
    assert mass_share(signed_attr, find_spans(TEXT, "took it home")) == pytest.approx(mass_share(signed_attr.scores, [5, 6, 7]))
    with pytest.raises(ValueError, match="covers no context token"): mass_share([1.0, 2.0], [])

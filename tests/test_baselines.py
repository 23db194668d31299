"""Baselines and HETA ablations: one interface, batched equals looped, determinism, no recomputation, clear errors."""
import numpy as np, pytest, torch
from heta.models import prepare_model, tiny_gpt2, tiny_llama
from heta.targets import make_target, input_embeddings, target_logprob
from heta.attribution import HETA
import heta.attribution as HA
from heta.baselines import (BASELINES, ABLATIONS, EXPLAINERS, make_explainer, heta_ablations, ablation_scores,
                            occlusion_drops, integrated_gradients, target_gradient, HETAVariant, RandomExplainer,
                            clear_component_cache)

TEXT, Y = "Cam ordered a pizza and took it home. He had to use his chef knife to cut a", " slice"

@pytest.fixture(scope="module")
def target(gpt2_tok): return make_target(gpt2_tok, TEXT, Y)

def _opts(name):
    return {"n_probes": 2} if name.startswith("heta") else {"steps": 6} if name == "ig" else {}

def test_registry_names():
    from heta.baselines import PRESET_METHODS
    assert set(EXPLAINERS) == {"heta", *PRESET_METHODS, *ABLATIONS, *BASELINES}
    assert set(BASELINES) >= {"random", "attention", "rollout", "saliency", "input-x-gradient", "ig", "occlusion",
                              "last-token", "recency"}
    assert set(PRESET_METHODS) == {"heta-paper", "heta-classic"}
    assert ABLATIONS == ("heta-gate", "heta-S", "heta-I", "heta-gate-S", "heta-gate-I")

@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("name", EXPLAINERS)
def test_every_method_same_interface_and_deterministic(models, gpt2_tok, target, arch, name):
    m = models[arch]
    a = make_explainer(name, m, gpt2_tok, **_opts(name)).attribute(TEXT, target=Y)
    b = make_explainer(name, m, gpt2_tok, **_opts(name)).attribute(TEXT, target=Y)
    assert a.method == name and a.tokens == target.context_tokens and a.scores.shape == (target.target_pos,)
    assert np.isfinite(a.scores).all() and a.scores.tobytes() == b.scores.tobytes()
    assert a.scores.std() > 0          # not a constant
    if name not in ("input-x-gradient", "ig", "occlusion"): assert (a.scores >= 0).all()

@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("mask", ["delete", "zero", "mean"])
def test_occlusion_batched_equals_loop(models, target, arch, mask):
    m = models[arch]
    ids, tid = target.context_ids, target.target_id
    X = input_embeddings(m, ids)
    full = target_logprob(m, X, tid)[0]
    W = m.get_input_embeddings().weight
    ref = []
    for i in range(len(ids)):
        if mask == "delete": V = input_embeddings(m, torch.cat([ids[:i], ids[i + 1:]]))
        else:
            V = X.clone(); V[0, i] = 0 if mask == "zero" else W.mean(0)
        ref.append(float(full - target_logprob(m, V, tid)[0]))
    for bs in (1, 5, 64):
        np.testing.assert_allclose(occlusion_drops(m, target, mask=mask, batch_size=bs).numpy(), ref, atol=2e-5)

def test_gradient_matches_autograd_on_logits(models, target):
    m = models["llama"]
    X = input_embeddings(m, target.context_ids).requires_grad_()
    torch.log_softmax(m(inputs_embeds=X).logits[0, -1].float(), -1)[target.target_id].backward()
    X0, G = target_gradient(m, target)
    assert torch.allclose(G, X.grad[0], rtol=1e-4, atol=1e-5) and torch.equal(X0, X.detach()[0])

@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_ig_completeness_and_batching(models, target, arch):
    m = models[arch]
    # a zero baseline is ill-conditioned for RMSNorm models without position embeddings (see the notebook): use a token's
    opt = dict(baseline="zero") if arch == "gpt2" else dict(baseline="eos", mask_token_id=50256)
    ig, gap = integrated_gradients(m, target, steps=32, **opt)
    X = input_embeddings(m, target.context_ids)
    Xb = torch.zeros_like(X) if arch == "gpt2" else m.get_input_embeddings().weight[50256].expand_as(X)
    df = float(target_logprob(m, X, target.target_id)[0] - target_logprob(m, Xb, target.target_id)[0])
    assert abs(gap) < 1e-3 * max(1.0, abs(df))
    assert abs(float(ig.sum()) - df) < 1e-3 * max(1.0, abs(df))
    ig2, _ = integrated_gradients(m, target, steps=32, batch_size=7, **opt)
    assert torch.allclose(ig, ig2, atol=1e-5)

def test_ig_bad_options(models, target, gpt2_tok):
    with pytest.raises(ValueError, match="baseline shape"):
        integrated_gradients(models["gpt2"], target, baseline=torch.zeros(3, 64))
    with pytest.raises(ValueError, match="steps="): integrated_gradients(models["gpt2"], target, steps=0)
    with pytest.raises(ValueError, match="pad"): make_explainer("ig", models["gpt2"], gpt2_tok, baseline="pad")  # GPT-2 has no pad

def test_random_seeded_per_input(models, gpt2_tok):
    m = models["gpt2"]
    a = RandomExplainer(m, gpt2_tok, seed=1).attribute(TEXT, target=Y)
    b = RandomExplainer(m, gpt2_tok, seed=1)
    b.attribute("Something else entirely", target=" here")       # order of calls must not matter
    assert b.attribute(TEXT, target=Y).scores.tobytes() == a.scores.tobytes()
    assert not np.array_equal(RandomExplainer(m, gpt2_tok, seed=2).attribute(TEXT, target=Y).scores, a.scores)

def test_ablations_derived_equal_variants_and_recomputation(models, gpt2_tok, target):
    m = models["gpt2"]
    opts = dict(n_probes=2, beta=0.4, gamma=0.6, seed=3)
    h = HETA(m, gpt2_tok, **opts).attribute(TEXT, target=Y)
    der = heta_ablations(h)
    calls = []
    orig = HA.hessian_sensitivity
    HA.hessian_sensitivity = lambda *a, **k: (calls.append(1), orig(*a, **k))[1]
    try:
        clear_component_cache()
        var = {v: make_explainer(v, m, gpt2_tok, **opts).attribute(TEXT, target=Y) for v in ("heta",) + ABLATIONS}
        fresh = {v: make_explainer(v, m, gpt2_tok, cache=False, **opts).attribute(TEXT, target=Y) for v in ABLATIONS[:2]}
    finally: HA.hessian_sensitivity = orig
    assert len(calls) == 1 + 2            # one shared computation, then two with the cache off
    assert var["heta"].scores.tobytes() == h.scores.tobytes()
    for v in ABLATIONS:
        assert der[v].scores.tobytes() == var[v].scores.tobytes(), v
        assert der[v].method == v and der[v].settings["ablation"] == v
    for v in fresh: assert fresh[v].scores.tobytes() == var[v].scores.tobytes()
    g, S, I = (torch.tensor(x) for x in (h.gate, h.curvature, h.information))
    ref = ablation_scores(g, S, I)
    assert torch.allclose(ref["heta-gate-S"], g * S / S.sum()) and torch.allclose(ref["heta-I"], I / I.sum())

def test_cache_key_separates_settings_and_skips_hooked_models(models, gpt2_tok):
    m = models["gpt2"]
    clear_component_cache()
    a = make_explainer("heta-S", m, gpt2_tok, n_probes=2, seed=0).attribute(TEXT, target=Y)
    b = make_explainer("heta-S", m, gpt2_tok, n_probes=2, seed=1).attribute(TEXT, target=Y)
    assert not np.array_equal(a.scores, b.scores)
    noise = 0.05 * torch.randn(64, generator=torch.Generator().manual_seed(0))
    hk = m.get_input_embeddings().register_forward_hook(lambda mod, i, o: o + noise)
    try: c = make_explainer("heta-S", m, gpt2_tok, n_probes=2, seed=0).attribute(TEXT, target=Y)
    finally: hk.remove()
    assert not np.array_equal(a.scores, c.scores)

def test_ablations_refuse_non_heta_and_summed_multistep(models, gpt2_tok):
    m = models["gpt2"]
    with pytest.raises(ValueError, match="no HETA components"):
        heta_ablations(make_explainer("saliency", m, gpt2_tok).attribute(TEXT, target=Y))
    with pytest.raises(ValueError, match="summed over its steps"):
        heta_ablations(HETA(m, gpt2_tok, n_probes=1).attribute("The capital of France is", target=" Paris, of course"))

def test_factory_errors(models, gpt2_tok):
    m = models["gpt2"]
    with pytest.raises(ValueError, match="unknown explainer 'lime'"): make_explainer("lime", m, gpt2_tok)
    with pytest.raises(ValueError, match="does not take stepz"): make_explainer("ig", m, gpt2_tok, stepz=3)
    with pytest.raises(ValueError, match="its options are"): make_explainer("attention", m, gpt2_tok, n_probes=3)
    with pytest.raises(ValueError, match="has 2 layers"): make_explainer("attention", m, gpt2_tok, layer=5)
    with pytest.raises(ValueError, match="unknown mask"): make_explainer("occlusion", m, gpt2_tok, mask="blur")
    assert isinstance(make_explainer("heta-gate", m, gpt2_tok), HETA)

def test_component_cache_is_per_model(gpt2_tok):
    """A new model never sees another model's cached components (even one created after the first is gone)."""
    import gc
    from heta.models import prepare_model, tiny_gpt2
    from heta.baselines import make_explainer
    m1 = prepare_model(tiny_gpt2(seed=1, init_std=0.2))
    g1 = make_explainer("heta", m1, gpt2_tok, n_probes=1).attribute("a b c", target=" d").gate
    del m1; gc.collect()
    m2 = prepare_model(tiny_gpt2(seed=2, init_std=0.2))
    g2 = make_explainer("heta-gate", m2, gpt2_tok, n_probes=1).attribute("a b c", target=" d").gate
    assert not np.allclose(g1, g2)

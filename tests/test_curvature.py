"""Curvature S: batched exact equals the naive loop; the variants are real and checkable."""
import pytest, torch
from heta.models import prepare_model, tiny_gpt2, tiny_llama
from heta.targets import make_target
from heta.curvature import hessian_sensitivity, hessian_sensitivity_naive, spearman, rademacher_probes

@pytest.mark.parametrize("name", ["gpt2", "llama"])
@pytest.mark.parametrize("batch_size", [1, 5, 64])
@pytest.mark.parametrize("use_cache", [True, False])
def test_batched_equals_naive(models, gpt2_tok, name, batch_size, use_cache):
    t = make_target(gpt2_tok, "The cat sat on the mat and", " purred")
    naive = hessian_sensitivity_naive(models[name], t, n_probes=3, seed=7)
    fast = hessian_sensitivity(models[name], t, n_probes=3, seed=7, batch_size=batch_size, use_cache=use_cache)
    torch.testing.assert_close(fast, naive, rtol=1e-4, atol=1e-6 * float(naive.abs().max()))

def tiny_sliding_gemma():
    "A tiny random Gemma 3 text model whose layers alternate sliding-window and full attention."
    from transformers import Gemma3TextConfig, Gemma3ForCausalLM
    torch.manual_seed(0)
    cfg = Gemma3TextConfig(vocab_size=50257, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           num_key_value_heads=1, head_dim=16, sliding_window=3, layer_types=["sliding_attention", "full_attention"])
    return prepare_model(Gemma3ForCausalLM(cfg))

def test_prefix_cache_is_used_where_the_cache_allows(models, gpt2_tok, monkeypatch):
    """The suffix runs really happen on plain caches (GPT-2, Llama) and are skipped on sliding-window layers, where the
    whole sequence runs and the numbers still equal the loop's."""
    import heta.curvature as cv
    calls = []
    real = cv.prefix_cache
    monkeypatch.setattr(cv, "prefix_cache", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    t = make_target(gpt2_tok, "The cat sat on the mat and", " purred")
    for name in ("gpt2", "llama"):
        calls.clear(); hessian_sensitivity(models[name], t, n_probes=2, batch_size=2)
        assert sorted(set(calls)) == list(range(1, t.target_pos))      # one chunk per token: every prefix length but 0
        calls.clear(); hessian_sensitivity(models[name], t, n_probes=2, batch_size=2, use_cache=False)
        assert calls == []
    g = tiny_sliding_gemma()
    calls.clear()
    fast = hessian_sensitivity(g, t, n_probes=2, seed=1, batch_size=3)
    assert calls == []
    naive = hessian_sensitivity_naive(g, t, n_probes=2, seed=1)
    torch.testing.assert_close(fast, naive, rtol=1e-4, atol=1e-6 * float(naive.abs().max()))

def test_last_k_naive_parity(models, gpt2_tok):
    t = make_target(gpt2_tok, "one two three four", " five")
    naive = hessian_sensitivity_naive(models["gpt2"], t, n_probes=2, seed=1, last_k=1)
    fast = hessian_sensitivity(models["gpt2"], t, n_probes=2, seed=1, last_k=1)
    torch.testing.assert_close(fast, naive, rtol=1e-4, atol=1e-6 * float(naive.abs().max()))
    assert not torch.allclose(fast, hessian_sensitivity(models["gpt2"], t, n_probes=2, seed=1), rtol=1e-2)

def test_seed_reproducible_and_matters(models, gpt2_tok):
    t = make_target(gpt2_tok, "a b c d e", " f")
    a = hessian_sensitivity(models["gpt2"], t, n_probes=2, seed=3)
    assert torch.equal(a, hessian_sensitivity(models["gpt2"], t, n_probes=2, seed=3))
    assert not torch.equal(a, hessian_sensitivity(models["gpt2"], t, n_probes=2, seed=4))

def test_gauss_newton_all_vocab_matches_explicit_fisher():
    """With top_k covering the vocabulary, GN S equals E|J^T F J r|_1 from the explicit Jacobian."""
    from heta.targets import Target, input_embeddings, next_logprobs
    m = prepare_model(tiny_gpt2(vocab_size=50, init_std=0.3))
    t = Target("", torch.tensor([3, 14, 15, 9, 26]), [(0, 0)] * 5, 4)
    X = input_embeddings(m, t.context_ids)
    fz = lambda x: m.get_output_embeddings()(m.base_model(inputs_embeds=x[None]).last_hidden_state[0, -1])
    J = torch.autograd.functional.jacobian(fz, X[0]).reshape(50, 4, 64)
    p = next_logprobs(m, X)[0].exp(); F = torch.diag(p) - torch.outer(p, p)
    R = rademacher_probes(6, 4, 64, seed=0)
    ref = torch.stack([torch.stack([(J[:, i].T @ F @ J[:, i] @ R[k, i]).abs().sum() for k in range(6)]).mean() for i in range(4)])
    gn = hessian_sensitivity(m, t, "gauss-newton", n_probes=6, seed=0, top_k=50)
    torch.testing.assert_close(gn, ref, rtol=1e-4, atol=1e-7)

def test_low_rank_full_rank_is_exact():
    from heta.targets import Target
    m = prepare_model(tiny_gpt2(n_embd=8, n_head=2, init_std=0.3))
    t = Target("", torch.tensor([5, 6, 7, 8]), [(0, 0)] * 4, 3)
    torch.testing.assert_close(hessian_sensitivity(m, t, "low-rank", n_probes=5, rank=8),
                               hessian_sensitivity(m, t, "exact", n_probes=5), rtol=1e-3, atol=1e-6)

@pytest.mark.parametrize("kw,msg", [(dict(mode="x"), "unknown curvature mode"), (dict(n_probes=0), "at least one probe"),
                                    (dict(batch_size=0), "batch_size"), (dict(mode="low-rank", rank=0), "rank"),
                                    (dict(last_k=9), "between 1 and")])
def test_bad_options(models, gpt2_tok, kw, msg):
    t = make_target(gpt2_tok, "a b", " c")
    with pytest.raises(ValueError, match=msg): hessian_sensitivity(models["gpt2"], t, **kw)

def test_spearman():
    assert spearman([1, 2, 3], [1, 2, 3]) == pytest.approx(1)
    with pytest.raises(ValueError, match="length mismatch"): spearman([1, 2], [1, 2, 3])

def test_gauss_newton_last_k_all_layers_equals_embeddings(models, gpt2_tok):
    """GPT-2's layer-0 input is X + position embeddings (a constant shift), so k = L must reproduce embedding-space GN."""
    t = make_target(gpt2_tok, "one two three four", " five")
    L = models["gpt2"].config.n_layer
    torch.testing.assert_close(hessian_sensitivity(models["gpt2"], t, "gauss-newton", n_probes=3, last_k=L),
                               hessian_sensitivity(models["gpt2"], t, "gauss-newton", n_probes=3), rtol=1e-4, atol=1e-7)

def test_fisher_factors_one_pass_per_gradient_matches_batched():
    "grads_per_pass changes how the K backward passes run (the CPU default: one at a time), not the factors"
    import torch
    from heta.models import prepare_model, tiny_gpt2, gpt2_tokenizer
    from heta.targets import make_target, next_logprobs, input_embeddings
    from heta.curvature import fisher_factors
    m = prepare_model(tiny_gpt2(init_std=0.2))
    t = make_target(gpt2_tokenizer(), "Cam ordered a pizza and took it home", " and")
    X = input_embeddings(m, t.context_ids)
    f = lambda Z: next_logprobs(m, Z)
    ref = fisher_factors(f, X, 8, grads_per_pass=8)
    for per_pass in (None, 1, 3, 100):
        U, pk, mass = fisher_factors(f, X, 8, grads_per_pass=per_pass)
        assert U.shape == ref[0].shape == (8, t.target_pos, X.shape[-1])
        assert (U - ref[0]).abs().max() <= 1e-5 * ref[0].abs().max()   # float32 rounding of batched vs single passes and torch.equal(pk, ref[1]) and mass == ref[2]

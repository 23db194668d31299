import math, warnings
import pytest, torch
from heta.models import prepare_model, tiny_gpt2, tiny_llama
from heta.targets import make_target, input_embeddings, next_logprobs
from heta.information import (MASKS, kl_information, kl_information_naive, kl_divergence, mask_embedding,
                              mask_token_id, masked_variants)

TEXT = "Cam ordered a pizza and took it home. He had to use his chef knife to cut a"
EOT = 50256
SCHEMES = [("zero", None), ("mean", None), ("pad", EOT), ("eos", EOT), ("unk", EOT), ("delete", None)]

@pytest.fixture(scope="module")
def target(gpt2_tok): return make_target(gpt2_tok, TEXT, " slice")

def test_every_scheme_is_covered():
    assert [m for m, _ in SCHEMES] == list(MASKS)

@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("mask,k", SCHEMES)
def test_batched_matches_naive(models, target, arch, mask, k):
    m = models[arch]
    ref = kl_information_naive(m, target, mask, k)
    assert ref.shape == (target.target_pos,) and ref.dtype == torch.float32
    assert (ref > 0).any()
    for bs in (1, 7, 32):
        for uc in (False, True):
            I = kl_information(m, target, mask, k, batch_size=bs, use_cache=uc)
            assert I.shape == ref.shape and I.dtype == torch.float32 and I.device.type == "cpu"
            assert (I - ref).abs().max() <= 1e-6, (bs, uc, (I - ref).abs().max())
            assert (I >= 0).all()

@pytest.mark.parametrize("mask,k", SCHEMES)
def test_causality(models, gpt2_tok, target, mask, k):
    # everything after pred_pos (the target and beyond) must not matter
    m = models["gpt2"]
    I = kl_information(m, target, mask, k)
    for suffix in (" slice of bread", " hole in the wall and left", " x"):
        assert torch.equal(kl_information(m, make_target(gpt2_tok, TEXT, suffix), mask, k), I)

def test_causality_against_full_sequence(models, gpt2_tok, target):
    # the model itself: tokens after pred_pos present in the input leave the logits at pred_pos unchanged
    m = models["llama"]
    long = make_target(gpt2_tok, TEXT, " slice and ate it")
    X = input_embeddings(m, long.input_ids)
    V = masked_variants(X, torch.arange(target.target_pos), mask_embedding(m, "mean"))
    with torch.no_grad():
        kl = kl_divergence(next_logprobs(m, X, pos=target.pred_pos), next_logprobs(m, V, pos=target.pred_pos))
    assert (kl.float() - kl_information(m, target, "mean")).abs().max() < 1e-5

def test_masking_nothing_gives_zero(models, gpt2_tok):
    # the eos mask applied to a token that already is eos leaves the input unchanged
    t = make_target(gpt2_tok, "<|endoftext|>The cat sat<|endoftext|> on the", " mat")
    where = (t.context_ids == EOT).nonzero().flatten()
    assert len(where) == 2
    for arch, m in models.items():
        for uc in (False, True):
            I = kl_information(m, t, "eos", EOT, batch_size=3, use_cache=uc)
            assert I[where].abs().max() < 1e-9
            rest = torch.ones(len(I), dtype=torch.bool); rest[where] = False
            assert (I[rest] > 1e-6).all()

def test_kl_divergence_properties():
    g = torch.Generator().manual_seed(0)
    lp = torch.randn(4, 1000, generator=g).log_softmax(-1)
    lq = torch.randn(4, 1000, generator=g).log_softmax(-1)
    assert torch.equal(kl_divergence(lp, lp), torch.zeros(4, dtype=torch.float64))
    kl = kl_divergence(lp, lq)
    assert (kl > 0).all() and kl.dtype == torch.float64
    ref = (lp.double().exp() * (lp.double() - lq.double())).sum(-1)
    assert torch.allclose(kl, ref, atol=1e-12)
    assert torch.allclose(kl_divergence(lp[:1], lq), kl_divergence(lp[:1].expand(4, -1), lq))  # broadcasting
    # tiny divergences are kept, not floored: two distributions a hair apart
    a = torch.tensor([0.5, 0.5], dtype=torch.float64)
    b = torch.tensor([0.5 + 1e-6, 0.5 - 1e-6], dtype=torch.float64)
    assert math.isclose(kl_divergence(a.log(), b.log()).item(), 2e-12, rel_tol=1e-3)
    zero_mass = torch.tensor([0., 1.]).log()
    assert kl_divergence(zero_mass, torch.tensor([-math.inf, 0.])).item() == 0.
    assert kl_divergence(torch.tensor([.5, .5]).log(), zero_mass).item() == math.inf

def test_positions(models, target):
    m = models["gpt2"]
    full = kl_information(m, target)
    for uc in (False, True):
        p = [5, 0, target.pred_pos, 5]
        assert (kl_information(m, target, positions=p, batch_size=2, use_cache=uc) - full[p]).abs().max() <= 1e-6
    assert torch.equal(kl_information_naive(m, target, positions=[3]), kl_information_naive(m, target)[[3]])

def test_multi_step_target_uses_first_step(models, gpt2_tok):
    m = models["gpt2"]
    t = make_target(gpt2_tok, TEXT, " slice of pizza")
    assert t.n_steps == 3
    I = kl_information(m, t)
    assert I.shape == (t.target_pos,)
    assert torch.equal(I, kl_information(m, t.step(0)))

def test_mean_and_token_masks_are_what_they_say(models):
    m = models["llama"]
    E = m.get_input_embeddings().weight
    assert torch.allclose(mask_embedding(m, "mean"), E.mean(0))
    assert torch.equal(mask_embedding(m, "unk", 17), E[17])
    assert torch.equal(mask_embedding(m, "zero"), torch.zeros(E.shape[1]))
    assert mask_embedding(m, "delete") is None

def test_delete_last_token_and_short_contexts(models, gpt2_tok):
    m = models["gpt2"]
    t = make_target(gpt2_tok, "one two", " three")
    assert t.target_pos == 2
    ref = kl_information_naive(m, t, "delete")
    for bs in (1, 2):
        assert (kl_information(m, t, "delete", batch_size=bs, use_cache=True) - ref).abs().max() <= 1e-6
    t1 = make_target(gpt2_tok, "one two", target_pos=1)
    assert kl_information(m, t1).shape == (1,)
    with pytest.raises(ValueError, match="at least two context tokens"): kl_information(m, t1, "delete")
    with pytest.raises(ValueError, match="at least two context tokens"): kl_information_naive(m, t1, "delete")

def test_mask_token_id_lookup(gpt2_tok):
    assert mask_token_id(gpt2_tok, "eos") == EOT and mask_token_id(gpt2_tok, "unk") == EOT
    with pytest.raises(ValueError, match="no pad token") as e: mask_token_id(gpt2_tok, "pad")
    assert "mask='eos'" in str(e.value) and "mask='zero'" in str(e.value)
    with pytest.raises(ValueError, match="looks up one of"): mask_token_id(gpt2_tok, "mask")

@pytest.mark.parametrize("kwargs,msg", [
    (dict(mask="blank"), "unknown mask 'blank': use one of 'zero', 'mean', 'pad', 'eos', 'unk', 'delete'"),
    (dict(mask="pad"), "mask_token_id=mask_token_id"),          # GPT-2's config names no pad token
    (dict(mask="eos", mask_token_id=60000), "outside the input-embedding matrix"),
    (dict(mask="zero", mask_token_id=3), "only used with"),
    (dict(batch_size=0), "positive int"),
    (dict(batch_size=2.5), "positive int"),
    (dict(positions=[-1]), "positions must lie in"),
    (dict(positions=[10**3]), "positions must lie in"),
])
def test_bad_inputs(models, target, kwargs, msg):
    with pytest.raises(ValueError, match=msg): kl_information(models["gpt2"], target, **kwargs)

def test_target_must_be_a_target(models):
    with pytest.raises(ValueError, match="make_target"): kl_information(models["gpt2"], "some text")
    with pytest.raises(ValueError, match="make_target"): kl_information_naive(models["gpt2"], torch.tensor([1, 2]))

def test_unsupported_cache_falls_back(models, target, monkeypatch):
    import heta.information as info
    monkeypatch.setattr(info, "plain_cache", lambda cache: False)
    with pytest.warns(UserWarning, match="computing without the cache"):
        I = kl_information(models["gpt2"], target, use_cache=True)
    assert (I - kl_information(models["gpt2"], target)).abs().max() <= 1e-6

"""The semantic-flow gate M_T: vectorised code against the naive per-head loop for every option, on GPT-2 and GQA Llama."""
import inspect, itertools
import pytest, torch
from heta.flow import (semantic_flow, semantic_flow_naive, flow_pieces, gate_from_pieces, capture_attention, value_norms,
                       hooked_value_norms, mixing_matrices, rollout, FLOW_DEFAULTS, FLOW_PRESETS, ROLLOUTS, ACCUMULATE,
                       VALUE_NORMS, SINKS, ROWS)
from heta.models import prepare_model, tiny_gpt2, tiny_llama
from heta.targets import make_target

TEXT, TARGET = "Cam ordered a pizza and took it home. He cut a", " slice"

def _gpt2():
    m = prepare_model(tiny_gpt2(n_layer=3, init_std=0.3))
    with torch.no_grad():  # non-zero biases, so that a dropped or mis-sliced value bias shows
        g = torch.Generator().manual_seed(0)
        for n, p in m.named_parameters():
            if n.endswith("bias"): p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return m

MODELS = {"gpt2": _gpt2, "llama-gqa": lambda: prepare_model(tiny_llama(n_layer=3, n_head=4, n_kv_head=2))}

@pytest.fixture(scope="module", params=list(MODELS))
def model(request): return MODELS[request.param]()

@pytest.fixture(scope="module")
def target(gpt2_tok): return make_target(gpt2_tok, TEXT, TARGET)

GRID = list(itertools.product(ROLLOUTS, ACCUMULATE, VALUE_NORMS, SINKS, ROWS))

def test_vectorised_equals_naive_loop_every_option(model, target):
    for ro, acc, vn, sink, row in GRID:
        for extra in ({}, dict(residual=0.2, layers=2)):
            o = dict(rollout=ro, accumulate=acc, value_norms=vn, sink=sink, row=row, **extra)
            torch.testing.assert_close(semantic_flow(model, target, **o), semantic_flow_naive(model, target, **o),
                                       atol=1e-6, rtol=0, msg=lambda m: f"{o}: {m}")

@pytest.mark.parametrize("name", list(FLOW_PRESETS))
def test_presets_equal_naive(model, target, name):
    torch.testing.assert_close(semantic_flow(model, target, **FLOW_PRESETS[name]),
                               semantic_flow_naive(model, target, **FLOW_PRESETS[name]), atol=1e-6, rtol=0)

def test_gate_is_a_distribution_over_the_context(model, target):
    for ro, acc, vn, sink, row in GRID:
        g = semantic_flow(model, target, rollout=ro, accumulate=acc, value_norms=vn, sink=sink, row=row)
        assert g.shape == (target.target_pos,) and g.dtype == torch.float32 and g.device.type == "cpu"
        assert g.min() >= 0 and abs(g.sum().item() - 1) < 1e-5
        if sink == "exclude": assert g[0] == 0

def test_value_norms_match_hooked_values(model, target):
    _, normed = capture_attention(model, target.context_ids, [0, 1, 2])
    nu = value_norms(model, normed, [0, 1, 2]).double()
    ref = hooked_value_norms(model, target.context_ids)
    assert ((nu - ref).abs() / ref).max() < 1e-5

def test_rollout_is_causal_and_stochastic(model, target):
    A, _ = capture_attention(model, target.context_ids, [0, 1, 2])
    for r in (0.0, 0.5, 0.9):
        for mode in ("mean", "per-head"):
            R = rollout(mixing_matrices(A.double(), r), mode)
            assert torch.allclose(R.sum(-1), torch.ones_like(R.sum(-1)))
            assert R.triu(1).abs().max() == 0 and R.min() >= 0

def test_gate_ignores_tokens_after_the_predicting_position(model, gpt2_tok):
    # the row of pred_pos cannot see later tokens: changing the target (and what follows) leaves the gate unchanged
    a = make_target(gpt2_tok, TEXT, " slice of pizza")
    b = make_target(gpt2_tok, TEXT, " piece")
    for o in ({}, FLOW_PRESETS["paper"], dict(rollout="mean", accumulate="full")):
        torch.testing.assert_close(semantic_flow(model, a, **o), semantic_flow(model, b, **o), atol=0, rtol=0)

def test_one_layer_rollout_is_half_attention_half_identity(target):
    m = prepare_model(tiny_gpt2(n_layer=1, init_std=0.3))
    with torch.no_grad(): A = m(target.context_ids[None], output_attentions=True).attentions[0][0].double()
    T = target.pred_pos
    hand = 0.5 * A[:, T] + 0.5 * torch.eye(A.shape[-1], dtype=A.dtype)[T]
    g = semantic_flow(m, target, rollout="mean", accumulate="full", value_norms="none")
    torch.testing.assert_close(g, hand.mean(0).float(), atol=1e-6, rtol=0)

def test_only_needed_layers_and_rows_are_kept(model, target):
    p = flow_pieces(model, target, layers=1, full_maps=False)
    assert p.attentions.shape[:3] == (1, 4, 1) and p.layers == [2]
    full = flow_pieces(model, target)
    torch.testing.assert_close(p.attentions[:, :, 0], full.last(1).attentions[:, :, target.pred_pos])
    torch.testing.assert_close(gate_from_pieces(p), gate_from_pieces(full.last(1)), atol=1e-7, rtol=0)

def test_context_ids_give_the_same_gate(model, target):
    torch.testing.assert_close(semantic_flow(model, target.context_ids), semantic_flow(model, target), atol=0, rtol=0)

def test_defaults_are_documented():
    sig = inspect.signature(semantic_flow).parameters
    assert {k: sig[k].default for k in FLOW_DEFAULTS} == FLOW_DEFAULTS
    g = inspect.signature(gate_from_pieces).parameters
    assert all(g[k].default == FLOW_DEFAULTS[k] for k in g if k != "p")

@pytest.mark.parametrize("bad,msg", [
    (dict(rollout="avg"), "'none', 'mean', 'per-head'"), (dict(accumulate="sum"), "'cumulative', 'full'"),
    (dict(value_norms=True), "'token', 'mixing', 'none'"), (dict(sink="drop"), "'keep', 'exclude'"),
    (dict(row="last"), "'pred', 'target'"), (dict(residual=1.0), "0 <= r < 1"), (dict(residual=-0.1), "0 <= r < 1"),
    (dict(residual="0.5"), "0 <= r < 1"), (dict(layers=0), "positive count"), (dict(layers=4), "only 3 layers"),
])
def test_bad_options(model, target, bad, msg):
    with pytest.raises(ValueError, match=msg): semantic_flow(model, target, **bad)
    if "layers" not in bad or bad["layers"] == 0:
        with pytest.raises(ValueError, match=msg): semantic_flow_naive(model, target, **bad)

def test_bad_inputs(model, target):
    with pytest.raises(ValueError, match="give a Target"): semantic_flow(model, target.context_ids, row="target")
    with pytest.raises(ValueError, match="1-d token ids"): semantic_flow(model, "some text")
    with pytest.raises(ValueError, match="full_maps=True"): gate_from_pieces(flow_pieces(model, target, full_maps=False), rollout="mean")

def test_non_eager_model_is_refused(target):
    m = tiny_gpt2(); m.config._attn_implementation = "sdpa"
    with pytest.raises(ValueError, match="prepare_model"): semantic_flow(m, target)

def test_one_token_context(model, gpt2_tok):
    t = make_target(gpt2_tok, "Cam", " ordered")
    for o in ({}, dict(sink="exclude"), FLOW_PRESETS["paper"]):
        assert semantic_flow(model, t, **o).tolist() == [1.0]

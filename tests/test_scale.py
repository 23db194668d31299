"""Big-model plumbing on the CPU: a model dispatched by a device_map (one layer offloaded to disk) gives the same scores
as the model in one piece, for HETA's three components and every baseline; devices and dtypes are checked up front."""
import numpy as np, pytest, torch
from heta.models import load_model, check_device, check_dtype, prepare_model, tiny_gpt2
from heta.baselines import BASELINES, make_explainer

TEXT, TARGET = "The cat sat on the mat and", " purred"
PARTS = {"transformer.wte": "cpu", "transformer.wpe": "cpu", "transformer.h.0": "cpu", "transformer.h.1": "disk",
         "transformer.ln_f": "cpu", "lm_head": "cpu"}

@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    "(whole, dispatched, tokenizer): the same saved tiny GPT-2, in one piece and with layer 1 offloaded to disk."
    folder = tmp_path_factory.mktemp("tiny")
    tiny_gpt2(init_std=0.2).save_pretrained(folder)
    from heta.models import gpt2_tokenizer
    gpt2_tokenizer().save_pretrained(folder)
    whole, tok = load_model(str(folder))
    sharded, _ = load_model(str(folder), device_map=PARTS, offload_folder=str(folder/"offload"))
    assert sharded.hf_device_map["transformer.h.1"] == "disk"
    assert sharded.transformer.h[1].attn.c_proj.weight.device.type == "meta"   # really offloaded
    return whole, sharded, tok

@pytest.mark.parametrize("curvature", ["exact", "gauss-newton"])
def test_heta_components_equal_when_dispatched(pair, curvature):
    whole, sharded, tok = pair
    a = make_explainer("heta", whole, tok, n_probes=3, curvature=curvature).attribute(TEXT, target=TARGET)
    b = make_explainer("heta", sharded, tok, n_probes=3, curvature=curvature).attribute(TEXT, target=TARGET)
    for k in ("gate", "curvature", "information", "scores"):
        np.testing.assert_allclose(getattr(b, k), getattr(a, k), rtol=1e-5, atol=1e-7 * float(np.abs(getattr(a, k)).max()))

@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baselines_equal_when_dispatched(pair, name):
    whole, sharded, tok = pair
    opts = dict(steps=8) if name == "ig" else {}
    a = make_explainer(name, whole, tok, **opts).attribute(TEXT, target=TARGET)
    b = make_explainer(name, sharded, tok, **opts).attribute(TEXT, target=TARGET)
    np.testing.assert_allclose(b.scores, a.scores, rtol=1e-5, atol=1e-7 * max(float(np.abs(a.scores).max()), 1e-12))

@pytest.mark.parametrize("call,msg", [
    (lambda: load_model("tiny-gpt2", device="cpu", device_map="auto"), "not both"),
    (lambda: load_model("tiny-gpt2", device_map="auto"), "needs saved weights"),
    (lambda: load_model("tiny-gpt2", device="gpu"), "unknown device"),
    (lambda: load_model("tiny-gpt2", dtype="int8"), "floating dtype"),
    (lambda: check_device("cuda:7") if not torch.cuda.is_available() or torch.cuda.device_count() < 8 else check_device("nope"),
     "CUDA device|unknown device"),
])
def test_bad_devices_and_dtypes(call, msg):
    with pytest.raises(ValueError, match=msg): call()

def test_dispatched_model_refuses_a_move(pair):
    with pytest.raises(ValueError, match="dispatched by a device_map"): prepare_model(pair[1], device="cpu")

def test_dtype_by_name():
    m, _ = load_model("tiny-gpt2", dtype="bf16")
    assert next(m.parameters()).dtype == torch.bfloat16 and check_dtype("float32") == torch.float32

def test_curvature_runs_in_float32_and_leaves_the_model_as_it_was(models, gpt2_tok):
    from heta.curvature import hessian_sensitivity
    from heta.targets import make_target
    t = make_target(gpt2_tok, TEXT, TARGET)
    half = prepare_model(tiny_gpt2(init_std=0.2), dtype=torch.bfloat16)
    before = {n: p.clone() for n, p in half.state_dict().items()}
    full = prepare_model(tiny_gpt2(init_std=0.2), dtype=torch.bfloat16).float()     # the same bf16 weights, as float32
    S_default = hessian_sensitivity(half, t, n_probes=3)
    torch.testing.assert_close(S_default, hessian_sensitivity(full, t, n_probes=3), rtol=1e-5, atol=1e-6)
    assert all(torch.equal(before[n], p) and before[n].dtype == p.dtype for n, p in half.state_dict().items())
    S_own = hessian_sensitivity(half, t, n_probes=3, curvature_dtype=None)             # bf16 products: close, not equal
    assert not torch.equal(S_own, S_default)
    from heta.curvature import spearman
    assert spearman(S_own, S_default) > 0.8

def test_out_of_memory_halves_the_chunk_and_keeps_the_numbers(models, gpt2_tok, monkeypatch):
    import heta.curvature as cv
    from heta.targets import make_target
    t = make_target(gpt2_tok, TEXT, TARGET)
    ref = cv.hessian_sensitivity(models["gpt2"], t, n_probes=3, batch_size=8)
    real, sizes = cv.hvps, []
    def tight(f, X, V):   # pretend that more than 3 products at once do not fit
        sizes.append(V.shape[0])
        if V.shape[0] > 3: raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(f, X, V)
    monkeypatch.setattr(cv, "hvps", tight)
    torch.testing.assert_close(cv.hessian_sensitivity(models["gpt2"], t, n_probes=3, batch_size=8), ref, rtol=1e-5, atol=1e-7)
    assert sizes[:3] == [8, 4, 2] and set(sizes[3:]) <= {2, 1}      # halved twice, then the rest in twos
    monkeypatch.setattr(cv, "hvps", lambda f, X, V: (_ for _ in ()).throw(RuntimeError("DefaultCPUAllocator: can't allocate memory")))
    with pytest.raises(MemoryError, match="gauss-newton"): cv.hessian_sensitivity(models["gpt2"], t, n_probes=1, batch_size=2)
    monkeypatch.setattr(cv, "hvps", lambda f, X, V: (_ for _ in ()).throw(RuntimeError("some other failure")))
    with pytest.raises(RuntimeError, match="some other failure"): cv.hessian_sensitivity(models["gpt2"], t, n_probes=1)

def test_memory_plan_caps_the_batch(models, gpt2_tok, monkeypatch):
    import heta.curvature as cv
    from heta.targets import make_target
    t = make_target(gpt2_tok, TEXT, TARGET)
    seen = []
    real = cv.hvps
    monkeypatch.setattr(cv, "hvps", lambda f, X, V: seen.append(V.shape[0]) or real(f, X, V))
    one = cv.product_bytes(models["gpt2"].config, t.target_pos)
    cv.hessian_sensitivity(models["gpt2"], t, n_probes=4, batch_size=32, max_memory=2 * one)
    assert max(seen) == 2
    with pytest.raises(ValueError, match="max_memory"): cv.hessian_sensitivity(models["gpt2"], t, max_memory="plenty")
    from heta.attribution import HETA
    with pytest.raises(ValueError, match="curvature_dtype by name"):
        HETA(models["gpt2"], gpt2_tok, curvature_options={"curvature_dtype": torch.float16})
    a = HETA(models["gpt2"], gpt2_tok, n_probes=2, curvature="exact",
             curvature_options={"curvature_dtype": "bf16", "max_memory": "1GB"}).attribute(TEXT, target=TARGET)
    assert a.settings["curvature_options"] == {"curvature_dtype": "bf16", "max_memory": "1GB"}

def test_device_map_with_no_room_is_refused(pair, tmp_path):
    folder = tmp_path/"m"
    pair[0].save_pretrained(folder); pair[2].save_pretrained(folder)
    with pytest.raises(ValueError, match="all of .* on disk"):
        load_model(str(folder), device_map={"": "disk"}, offload_folder=str(tmp_path/"off"))

def test_bf16_on_a_gpu_without_it_is_refused(monkeypatch):
    import heta.models as hm
    monkeypatch.setattr(hm, "check_device", lambda d: torch.device("cuda") if d else None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "an old GPU")
    with pytest.raises(ValueError, match="an old GPU has no bfloat16 support"): load_model("tiny-gpt2", device="cuda", dtype="bf16")

@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_checkpointed_curvature_equals_the_plain_one(models, gpt2_tok, name):
    from heta.attribution import HETA
    m = models[name]
    kw = dict(curvature="exact", n_probes=2, seed=1)
    a = HETA(m, gpt2_tok, **kw).attribute(TEXT, target=TARGET)
    b = HETA(m, gpt2_tok, **kw, curvature_options={"checkpointing": True}).attribute(TEXT, target=TARGET)
    np.testing.assert_allclose(b.curvature, a.curvature, rtol=1e-4, atol=1e-6 * float(np.abs(a.curvature).max()))
    assert not any(mod.training for mod in m.modules())

def test_dispatched_half_precision_model_keeps_its_dtype_for_the_curvature(tmp_path):
    from heta.curvature import hessian_sensitivity
    from heta.models import gpt2_tokenizer
    from heta.targets import make_target
    folder = tmp_path/"bf16"
    tiny_gpt2(init_std=0.2).to(torch.bfloat16).save_pretrained(folder); gpt2_tokenizer().save_pretrained(folder)
    m, tok = load_model(str(folder), device_map=PARTS, dtype="bf16", offload_folder=str(tmp_path/"off"))
    t = make_target(tok, TEXT, TARGET)
    with pytest.warns(UserWarning, match="not cast to torch.float32"): S = hessian_sensitivity(m, t, n_probes=2)
    assert torch.isfinite(S).all() and next(m.parameters()).dtype == torch.bfloat16
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        hessian_sensitivity(m, t, n_probes=2, curvature_dtype=None)

def test_units_curvature_halves_on_out_of_memory_too(models, gpt2_tok, monkeypatch):
    import heta.curvature as cv
    from heta.targets import make_target
    t = make_target(gpt2_tok, TEXT, TARGET)
    units = [[0, 1], [2, 3], list(range(4, t.target_pos))]
    ref = cv.hessian_sensitivity(models["gpt2"], t, n_probes=3, units=units, batch_size=9)
    real, sizes = cv.hvps, []
    def tight(f, X, V):
        sizes.append(V.shape[0])
        if V.shape[0] > 2: raise RuntimeError("CUDA out of memory.")
        return real(f, X, V)
    monkeypatch.setattr(cv, "hvps", tight)
    torch.testing.assert_close(cv.hessian_sensitivity(models["gpt2"], t, n_probes=3, units=units, batch_size=9), ref, rtol=1e-5, atol=1e-7)
    assert sizes[:3] == [9, 4, 2]

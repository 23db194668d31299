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

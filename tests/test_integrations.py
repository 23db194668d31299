"""Bridges to the libraries attribution users already use: Captum (`Attribution.to_captum`), inseq (the "heta" method of
`heta.integrations.inseq`), and models inside nnsight or TransformerLens (`heta.models.unwrap_model`)."""
import sys
import numpy as np, pytest, torch
from heta.attribution import HETA

@pytest.fixture(scope="module")
def attributions(models, gpt2_tok):
    h = HETA(models["gpt2"], gpt2_tok, n_probes=2, curvature="gauss-newton")
    return (h.attribute("The cat sat on the mat and", target=" purred"),
            h.attribute("The cat sat on the", generate=3))

def test_to_captum_holds_heta_scores_and_plots(attributions):
    pytest.importorskip("captum")
    one, gen = attributions
    c = one.to_captum()
    assert c.input_tokens == one.labels and c.output_tokens == [" purred"]
    np.testing.assert_allclose(np.asarray(c.seq_attr), one.scores, rtol=0, atol=0)
    g = gen.to_captum()
    n_prompt = gen.target["pos"]
    assert np.asarray(g.token_attr).shape == (3, n_prompt) and g.input_tokens == gen.labels[:n_prompt]
    np.testing.assert_allclose(np.asarray(g.token_attr), gen.scores[:, :n_prompt])
    np.testing.assert_allclose(np.asarray(g.seq_attr), gen.scores[:, :n_prompt].sum(0), rtol=1e-6)
    assert g.output_tokens == [t["text"] for t in gen.targets]
    import matplotlib; matplotlib.use("Agg")
    for plot in (g.plot_token_attr, g.plot_seq_attr):
        fig, ax = plot(show=False)
        assert len(ax.get_xticklabels()) == n_prompt
        matplotlib.pyplot.close(fig)

def test_to_captum_without_captum_says_how_to_install(attributions, monkeypatch):
    monkeypatch.setitem(sys.modules, "captum", None); monkeypatch.setitem(sys.modules, "captum.attr", None)
    with pytest.raises(ImportError, match=r"pip install 'heta\[captum\]'"): attributions[0].to_captum()


# --- inseq: HETA as an inseq attribution method (heta[inseq]) ---
TEXT = "The cat sat on the mat and"

@pytest.fixture(scope="module")
def inseq_model(models, gpt2_tok):
    inseq = pytest.importorskip("inseq")
    import copy
    import heta.integrations.inseq  # noqa: F401  (registers the "heta" method)
    # inseq gives a tokenizer without a pad token one: a copy keeps the shared GPT-2 tokenizer as the other tests expect it
    return inseq.load_model(models["gpt2"], "heta", tokenizer=copy.deepcopy(gpt2_tok), n_probes=2, curvature="gauss-newton")

def _heta(models, gpt2_tok, **kw): return HETA(models["gpt2"], gpt2_tok, **{"n_probes": 2, "curvature": "gauss-newton", **kw})

def test_inseq_single_token_equals_heta(inseq_model, models, gpt2_tok):
    from heta.integrations.inseq import ids_target
    seq = inseq_model.attribute(TEXT, TEXT + " the", show_progress=False).sequence_attributions[0]
    ref = _heta(models, gpt2_tok).attribute(TEXT, target=" the")
    C = len(ref.scores)
    A = seq.target_attributions.numpy()
    assert A.shape == (C + 1, 1) and np.isnan(A[C, 0])
    np.testing.assert_allclose(A[:C, 0], ref.scores, rtol=0, atol=1e-6)
    ids = [t.id for t in seq.target]
    same = _heta(models, gpt2_tok).attribute_target(ids_target(gpt2_tok, ids))
    np.testing.assert_allclose(A[:C, 0], same.scores, rtol=0, atol=1e-6)

def test_inseq_generation_equals_heta_rows(inseq_model, models, gpt2_tok):
    seq = inseq_model.attribute("The cat sat on the", generation_args={"max_new_tokens": 3}, show_progress=False).sequence_attributions[0]
    g = _heta(models, gpt2_tok).attribute("The cat sat on the", generate=3)
    assert [t.id for t in seq.target][-3:] == [t["id"] for t in g.targets]   # same greedy tokens
    A, C = seq.target_attributions.numpy(), g.target["pos"]
    for j in range(3):   # inseq's column j is HETA's row j over the tokens step j could see
        np.testing.assert_allclose(A[:C + j, j], g.scores[j, :C + j], rtol=0, atol=1e-6)

def test_inseq_batch_rows_drop_padding(inseq_model, models, gpt2_tok):
    from heta.integrations.inseq import ids_target
    texts = ["The cat sat on the", "Hello"]
    out = inseq_model.attribute(texts, generation_args={"max_new_tokens": 2}, show_progress=False)
    h = _heta(models, gpt2_tok)
    for text, seq in zip(texts, out.sequence_attributions):
        ids, C = [t.id for t in seq.target], seq.attr_pos_start   # inseq re-tokenises a batch's generated texts
        A = seq.target_attributions.numpy()
        for j in range(2):   # the same targets as inseq's, on the unpadded prefix
            ref = h.attribute_target(ids_target(gpt2_tok, ids[:C + j + 1]))
            np.testing.assert_allclose(A[:C + j, j], ref.scores, rtol=0, atol=1e-6)

def test_inseq_options_pass_through(inseq_model, models, gpt2_tok):
    method = inseq_model.attribution_method
    assert method.explainer().settings["n_probes"] == 2 and method.explainer(preset="classic").settings["curvature"] == "gauss-newton"
    seq = inseq_model.attribute(TEXT, TEXT + " the", n_probes=5, show_progress=False).sequence_attributions[0]
    ref = _heta(models, gpt2_tok, n_probes=5).attribute(TEXT, target=" the")
    np.testing.assert_allclose(seq.target_attributions.numpy()[:len(ref.scores), 0], ref.scores, rtol=0, atol=1e-6)
    import inseq
    with pytest.raises(ValueError, match="unknown HETA options"): inseq.load_model(models["gpt2"], "heta", tokenizer=inseq_model.tokenizer, n_probs=2)
    with pytest.raises(ValueError, match="leave attributed_fn"): inseq_model.attribute(TEXT, TEXT + " the", attributed_fn="logit", show_progress=False)

def test_inseq_show_renders(inseq_model):
    out = inseq_model.attribute("The cat sat on the", generation_args={"max_new_tokens": 2}, show_progress=False)
    html = out.show(display=False, return_html=True)
    assert isinstance(html, str) and "Ġcat" in html and "<table" in html

# --- models inside nnsight / TransformerLens (heta.models.unwrap_model) ---
def test_heta_on_nnsight_model_equals_hf_model(models, gpt2_tok):
    nnsight = pytest.importorskip("nnsight")
    import warnings
    from heta.models import unwrap_model, load_model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)   # nnsight 0.8 prefers TransformersModel
        lm = nnsight.LanguageModel(models["gpt2"], tokenizer=gpt2_tok)
    assert unwrap_model(lm) is models["gpt2"] and load_model(lm) == (models["gpt2"], gpt2_tok)
    a = HETA(lm, gpt2_tok, n_probes=2).attribute(TEXT, target=" the")
    b = HETA(models["gpt2"], gpt2_tok, n_probes=2).attribute(TEXT, target=" the")
    np.testing.assert_array_equal(a.scores, b.scores)

def test_nnsight_model_without_weights_is_refused(tmp_path, gpt2_tok):
    nnsight = pytest.importorskip("nnsight")
    import warnings
    from heta.models import tiny_gpt2, unwrap_model
    tiny_gpt2(n_layer=1, n_embd=32, n_head=2).save_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        lm = nnsight.LanguageModel(str(tmp_path), tokenizer=gpt2_tok)   # weights load on first use (meta device until then)
    with pytest.raises(ValueError, match="dispatch"): unwrap_model(lm)

def test_transformer_lens_model_is_refused(gpt2_tok):
    HookedTransformer = type("HookedTransformer", (torch.nn.Module,), {"__module__": "transformer_lens.HookedTransformer"})
    with pytest.raises(ValueError, match="Load the model with transformers and pass that"): HETA(HookedTransformer(), gpt2_tok)

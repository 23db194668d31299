"""Bridges to the libraries attribution users already use: Captum (`Attribution.to_captum`)."""
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

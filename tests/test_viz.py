"""Viewers: a byte-exact snapshot of the HTML renderer, and the Explorer driven through its widgets."""
import dataclasses, json, os, re, subprocess, sys
from html.parser import HTMLParser
from pathlib import Path
import matplotlib
matplotlib.use("Agg")
import numpy as np, pytest
from heta.attribution import Attribution
from heta.viz import (Explorer, attribution_html, html_heatmap, html_page, plot_components, plot_generation,
                      plot_methods, svg_heatmap)

SNAPSHOT = Path(__file__).parent / "snapshots" / "heatmap.html"

def fixed():
    "A hand-made attribution whose tokens stress escaping and whitespace (no model involved)."
    text = 'Tom & <Jerry>\n\t"ran"\u00a0fast <script>'
    tokens = ["Tom", " &", " <", "Jerry", ">", "\n", "\t\"", "ran", "\"\u00a0", "fast", " <script>"]
    offsets, pos = [], 0
    for t in tokens: offsets.append((pos + len(t) - len(t.lstrip()), pos + len(t))); pos += len(t)
    assert pos == len(text)
    scores = [0.0, 0.5, 0.25, 1.0, 0.125, 0.0, 0.05, 0.75, 0.0, 0.3, 0.9]
    return Attribution(text=text, tokens=tokens, offsets=offsets, scores=scores, model="hand-made",
                       target={"text": " & <away>", "ids": [1, 2], "pos": len(tokens), "id": 1},
                       gate=[1.0] * 11, curvature=list(range(11, 0, -1)), information=[0.0] * 10 + [2.0])

def render():
    a = fixed()
    signed = dataclasses.replace(a, method="signed", gate=None, curvature=None, information=None,
                                 scores=[-1.0, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0.25])
    return html_page(attribution_html(a, uid="snap"), attribution_html(signed, uid="snap-signed"), title="heta <snapshot>")

class Tags(HTMLParser):
    "Checks that every opened element is closed in order (void elements aside)."
    VOID = {"br", "wbr", "meta"}
    def __init__(self): super().__init__(); self.stack, self.errors = [], []
    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID: self.stack.append(tag)
    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag: self.errors.append(tag)

def test_html_snapshot():
    out = render()
    if os.environ.get("HETA_UPDATE_SNAPSHOTS") or not SNAPSHOT.exists():
        if os.environ.get("CI") and not os.environ.get("HETA_UPDATE_SNAPSHOTS"):
            pytest.fail(f"{SNAPSHOT} is missing: write it with HETA_UPDATE_SNAPSHOTS=1 and commit it")
        SNAPSHOT.parent.mkdir(exist_ok=True); SNAPSHOT.write_text(out, encoding="utf-8")
    assert out == SNAPSHOT.read_text(encoding="utf-8"), ("the HTML renderer's output changed; if intended, "
        "inspect the page and rewrite the snapshot with HETA_UPDATE_SNAPSHOTS=1")

def test_html_escaping_ids_colours():
    out = render()
    body = out.split("<body", 1)[1]
    # escaping: nothing from the text is interpreted as markup
    assert "<script" not in out and "<Jerry" not in out and "<away" not in out and "<snapshot" not in out
    for s in ("&lt;script&gt;</span>", ">&lt;</span>", "&amp;</span>", "&quot;</span>", "&lt;away&gt;</span>"):
        assert s in body, s
    assert "<title>heta &lt;snapshot&gt;</title>" in out
    assert 'title="10: &#x27; &lt;script&gt;&#x27; score 0.9"' in body     # tooltips are escaped too
    assert '↵</span><br>' in body and '→</span>' in body and "\\xa0" in body   # newline, tab, no-break space
    # ids: deterministic, in order, unique
    ids = re.findall(r'id="([^"]+)"', body)
    want = (["snap"] + [f"snap-tok-{i}" for i in range(11)] + ["snap-target"]
            + ["snap-signed"] + [f"snap-signed-tok-{i}" for i in range(11)] + ["snap-signed-target"])
    assert ids == want
    # colours: white at 0, saturated red from the 90th percentile of |score| up (here the 2nd largest of 11 scores,
    # 0.9 and 0.5 for the signed row), linear in between; blue for negative scores
    bg = dict(re.findall(r'id="(snap(?:-signed)?-tok-\d+)"[^>]*style="background:(rgb\(\d+,\d+,\d+\))', body))
    assert bg["snap-tok-3"] == "rgb(214,39,40)" and bg["snap-tok-0"] == "rgb(255,255,255)"
    assert bg["snap-tok-1"] == "rgb(232,135,136)"            # score 0.5 of saturation 0.9
    assert bg["snap-tok-10"] == "rgb(214,39,40)"             # 0.9 itself: full red
    assert bg["snap-signed-tok-0"] == "rgb(31,119,180)"       # the strongest score is negative: blue
    assert bg["snap-signed-tok-10"] == "rgb(234,147,148)"     # 0.25 of saturation 0.5: halfway to red
    assert "colour saturates at p90 of |score|, 1 token above" in body
    assert 'color:#fff' in re.search(r'id="snap-tok-3"[^>]*>', body).group(0)  # white text on a dark cell
    assert "linear-gradient(to right,rgb(31,119,180),#fff,rgb(214,39,40))" in body
    # well-formed markup
    t = Tags(); t.feed(out)
    assert t.errors == [] and t.stack == []

def test_svg_matches_html_colours():
    a = fixed()
    s = svg_heatmap(a.tokens, a.scores, a.target["text"], uid="v")
    assert s.count('<g id="v-tok-') == 11 and 'fill="rgb(214,39,40)"' in s and "&lt;script&gt;" in s and "<script" not in s

@pytest.fixture
def pair():
    "A two-step generation from 'HETA' with components and a signed baseline over the same tokens."
    tokens = ["The", " cat", " sat", " on"]
    offsets = [(0, 3), (4, 7), (8, 11), (12, 14)]
    targets = [{"text": " on", "id": 3, "pos": 3}, {"text": " the", "id": 4, "pos": 4}]
    common = dict(text="The cat sat on the", tokens=tokens, offsets=offsets, targets=targets,
                  target={"text": " on the", "ids": [3, 4], "pos": 3, "id": 3})
    heta = Attribution(**common, scores=[[0.1, 0.7, 0.2, 0.0], [0.05, 0.1, 0.15, 0.7]],
                       gate=[[1, 1, 1, 0], [1, 1, 1, 1]], curvature=[[9, 1, 1, 0], [1, 1, 1, 1]],
                       information=[[0, 0, 3, 0], [0, 4, 0, 0]])
    base = Attribution(**common, method="grad", scores=[[-0.9, 0.3, 0.1, 0.0], [0.2, 0.1, -0.05, 0.4]])
    return heta, base

def spans(h):
    return re.findall(r'class="heta-tok" id="([^"]+)"', h)

def test_explorer_widgets_drive_html_and_table(pair):
    heta, base = pair
    ex = Explorer([heta, base], k=2, uid="e")
    assert list(ex.sources) == ["heta", "gate", "curvature", "information", "grad"]
    assert ex.target.options == (("0: ' on'", 0), ("1: ' the'", 1))
    # row 0: the target " on" sees 3 tokens; " cat" is top
    assert spans(ex.html) == ["e-tok-0", "e-tok-1", "e-tok-2"] and 'id="e-target"' in ex.html
    assert [t for _, t, _ in ex.topk()] == [" cat", " sat"] and ex.table_html.count("<tr>") == 3
    assert ex.table_html.index("cat") < ex.table_html.index("sat")
    before = (ex.html, ex.table_html)
    ex.component.value = "curvature"                      # "The" dominates the curvature
    assert (ex.html, ex.table_html) != before and ex.topk()[0][1] == "The"
    assert "curvature (max)" in ex.html
    ex.target.value = 1                                    # the second generated token sees all 4 tokens
    assert spans(ex.html)[-1] == "e-tok-3" and "&#x27; the&#x27;" in ex.html
    ex.component.value = "information"
    assert ex.topk()[0][1] == " cat"
    ex.component.value = "heta"; ex.norm.value = "sum"
    assert [round(v, 4) for _, _, v in ex.topk()] == [0.7, 0.15]
    assert "heta (sum)" in ex.html and ">0.7<" in ex.table_html
    ex.norm.value = "rank"
    assert [round(v, 4) for _, _, v in ex.topk()] == [1.0, round(2 / 3, 4)]
    ex.component.value = "grad"; ex.target.value = 0; ex.norm.value = "raw"   # signed baseline
    assert "linear-gradient(to right,rgb(31,119,180)" in ex.html and "rgb(31,119,180)" in ex.html
    assert [t for _, t, _ in ex.topk()] == [" cat", " sat"]
    ex.k.value = 3
    assert ex.table_html.count("<tr>") == 4 and ex.topk()[-1][1] == "The"   # most negative last

def test_explorer_words():
    a = Attribution(text="Un believable cat", tokens=["Un", " believ", "able", " cat"],
                    offsets=[(0, 2), (3, 9), (9, 13), (14, 17)], target={"text": " sat", "ids": [5], "pos": 4, "id": 5},
                    scores=[0.1, 0.3, 0.4, 0.5])
    ex = Explorer(a, uid="w")
    assert ex.target.disabled and ex.topk()[0][1] == " cat"
    ex.level.value = "words"
    assert len(spans(ex.html)) == 3 and ex.topk()[0][1] == " believable"
    assert abs(ex.topk()[0][2] - 1.0) < 1e-6                  # 0.7 is the new max
    ex.level.value = "tokens"
    assert len(spans(ex.html)) == 4

def test_explorer_refuses_mismatched(pair):
    heta, base = pair
    other = dataclasses.replace(base, tokens=["A", " dog", " sat", " on"])
    with pytest.raises(ValueError, match="different tokens"): Explorer([heta, other])
    with pytest.raises(ValueError, match="unknown normalisation"): Explorer(heta, norm="softmax")

def test_matrix_html_one_row_per_target(pair):
    heta, base = pair
    h = attribution_html(heta, uid="mx")                   # a generation, no row given: every generated token
    assert re.findall(r'class="heta-row" id="([^"]+)"', h) == ["mx-row-0", "mx-row-1"]
    rows = h.split('class="heta-row"')[1:]
    assert [len(re.findall(r'class="heta-tok"', r)) for r in rows] == [3, 4]   # step 0 could not see " on"
    for j, (r, t) in enumerate(zip(rows, [" on", " the"])):
        last = re.findall(r'class="heta-(?:tok|target)" id="([^"]+)"', r)[-1]
        assert last == f"mx-target-{j}" and f"generated token {j}: &#x27;{t}&#x27;" in r   # the token ends its row
    assert "2 generated tokens" in h and heta._repr_html_().count('class="heta-row"') == 2
    assert "rgb(31,119,180)" in attribution_html(base)     # the signed baseline: blue cells, one shared scale
    single = attribution_html(heta, row=1, uid="s1")       # a chosen row: the single-target view
    assert "heta-row" not in single and "(target 1)" in single and len(spans(single)) == 4
    t = Tags(); t.feed(h)
    assert t.errors == [] and t.stack == []

def views_of(page, uid):
    return json.loads(page.split(f'<script type="application/json" id="{uid}-views">')[1].split("</script>")[0])

class Visible(HTMLParser):
    "Token texts and element ids outside <script> and <noscript>: what a browser without JavaScript shows (noscript aside)."
    def __init__(self):
        super().__init__(); self.skip, self.inside, self.ids, self.noscript = 0, None, [], ""
    def handle_starttag(self, tag, attrs):
        if tag in ("script", "noscript"): self.skip += 1; self.inside = tag
        elif not self.skip and dict(attrs).get("id"): self.ids.append(dict(attrs)["id"])
    def handle_endtag(self, tag):
        if tag in ("script", "noscript"): self.skip -= 1
    def handle_data(self, data):
        if self.skip and self.inside == "noscript": self.noscript += data

def test_save_html_static_page(pair, tmp_path):
    heta, base = pair
    ex = Explorer([heta, base], k=2, uid="s")
    ex.target.value, ex.component.value = 1, "curvature"
    p = ex.save_html(tmp_path / "page" / "ex.html")
    page = p.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert not re.search(r"<script[^>]*\bsrc=", page) and "://" not in page          # loads nothing, from nowhere
    assert not re.search(r"<(link|img|iframe)\b", page)
    # without JavaScript: the saved view is in the plain HTML, with a <noscript> note; the controls are hidden
    v = Visible(); v.feed(page)
    assert [i for i in v.ids if i.startswith("s-tok-")] == [f"s-tok-{i}" for i in range(4)]   # target 1 sees 4 tokens
    assert "s-target" in v.ids and "JavaScript is off" in v.noscript
    assert "(1: ' the', curvature, max, tokens)" in v.noscript
    assert ex.html in page and ex.table_html in page
    assert re.search(r'id="s-controls" hidden', page)
    # every combination is stored, and each is what the widgets render for the same controls
    data = views_of(page, "s")
    assert len(data["views"]) == 2 * 5 * 4 * 2 and data["state"] == [1, 2, 0, 0]
    for key, (t, s, n, u) in [("0,4,3,0", (0, "grad", "raw", "tokens")), ("1,0,2,1", (1, "heta", "rank", "words"))]:
        ex.target.value, ex.component.value, ex.norm.value, ex.level.value = t, s, n, u
        assert [data["html"][i] for i in data["views"][key]] == [ex.html, ex.table_html], key
    assert len(set(map(tuple, data["views"].values()))) > 1                          # the views differ
    # beyond max_views: a cross through the saved view, said on the page
    small = views_of(ex.page_html(max_views=20), "s")
    assert len(small["views"]) == 2 * 5 + 7 and "0,1,2,1" in small["views"] and "0,1,0,0" not in small["views"]
    assert "17 of 80 views" in ex.page_html(max_views=20)
    assert ex.page_html() == ex.page_html()                                          # deterministic
    # a token that tries to close the script element cannot
    evil = dataclasses.replace(base, tokens=["</script><b>", " cat", " sat", " on"])
    page = Explorer(evil, uid="x").page_html()
    assert page.count("</script>") == 2 and "<b>" not in page

def test_plots_agg(pair):
    heta, base = pair
    fig = plot_components(heta, row=1)
    ax = fig.axes[0]
    assert len(ax.patches) == 4 * 4 and ax.get_ylabel() == "value / component max"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["The", "·cat", "·sat", "·on"]
    fig = plot_generation(base)
    img = fig.axes[0].images[0]
    assert img.get_array().shape == (2, 4) and int(img.get_array().mask.sum()) == 1
    assert img.get_cmap().name.startswith("RdBu_r") and img.norm.vmin == -img.norm.vmax   # signed: centred
    fig = plot_methods({"heta": heta, "grad": base}, row=1, norm="rank")
    assert len(fig.axes[0].patches) == 8 and fig.axes[0].get_ylabel() == "score (rank)"
    fig.canvas.draw()                                       # really renders with Agg

def test_show_and_display(pair):
    heta, _ = pair
    ex = heta.show(norm="rank", uid="d")                  # Attribution.show() opens the explorer
    assert type(ex) is Explorer and ex.norm.value == "rank"
    bundle = ex._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget.model_id
    assert bundle["text/plain"] == repr(ex) and "save_html" in repr(ex) and "_repr_html_()" in repr(ex)

def test_display_outside_a_kernel_points_to_static_views():
    "In plain Python `display` prints the object: the text must say where the views that need no frontend are."
    code = ("from IPython.display import display\n"
            "from heta.attribution import Attribution\n"
            "a = Attribution(text='a b', tokens=['a', ' b'], offsets=[(0, 1), (2, 3)], target={'text': ' c', 'ids': [1], 'pos': 2, 'id': 1}, scores=[0.1, 0.2])\n"
            "display(a.show())\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "need a Jupyter frontend" in r.stdout and "save_html" in r.stdout and "_repr_html_()" in r.stdout

def test_viewers_name_the_contrast():
    import numpy as np
    from heta.attribution import Attribution
    from heta.viz import attribution_html, Explorer
    a = Attribution(text="The cat sat", tokens=["The", " cat", " sat"], offsets=[(0, 3), (3, 7), (7, 11)],
                    target={"text": " on", "ids": [1], "pos": 3, "id": 1, "contrast": " in", "contrast_id": 2}, scores=np.array([.2, .5, .3]))
    assert "rather than &#x27; in&#x27;" in attribution_html(a) or "rather than ' in'" in attribution_html(a)
    assert "rather than" in Explorer([a]).render()[0]

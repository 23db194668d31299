"""The viewers in a real browser: headless Chromium (Debian package) renders (1) a static page from the HTML
and SVG renderers and (2) a page exported from the Explorer with ipywidgets embedding, whose widgets are
drawn by ipywidgets' HTML manager loaded from a local copy (npm), so nothing needs the internet.
Every token's text must be in the rendered DOM, and the screenshot must show the heatmap's colours.
Under CI=true this test never skips."""
import os, shutil, subprocess, tempfile, time
from html.parser import HTMLParser
from pathlib import Path
import pytest
import browser_deps
from heta.attribution import Attribution
from heta.viz import Explorer, html_heatmap, html_page, plain, svg_heatmap

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1", "--virtual-time-budget=10000"]

def unavailable(reason):
    if CI: pytest.fail(f"{reason}; under CI=true the browser test must run (make test installs it)")
    print(f"\nSKIPPED browser test: {reason}")
    pytest.skip(reason)

@pytest.fixture(scope="module")
def chromium():
    p = browser_deps.chromium_path()
    if p is None: unavailable("Chromium is not installed (Debian packages chromium, chromium-driver; `make test` installs them)")
    return p

@pytest.fixture(scope="module")
def embed_js():
    try: return browser_deps.widget_js()
    except Exception as e: unavailable(f"ipywidgets' HTML manager could not be fetched from the npm registry: {e}")

@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    "Screenshots go to $HETA_SCREENSHOTS when set (to look at them), else a pytest tmp dir."
    d = os.environ.get("HETA_SCREENSHOTS")
    p = Path(d) if d else tmp_path_factory.mktemp("screenshots")
    p.mkdir(parents=True, exist_ok=True)
    return p

def attribution():
    tokens = ["Cam", " ordered", " a", " <pizza>", " &", "\n", "\t\"took\"", " it", " home", ".", " He", " cut", " a"]
    text = "".join(tokens)
    offsets, pos = [], 0
    for t in tokens: offsets.append((pos + len(t) - len(t.lstrip()), pos + len(t))); pos += len(t)
    scores = [0.05, 0.3, 0.02, 1.0, 0.0, 0.01, 0.2, 0.05, 0.1, 0.0, 0.15, 0.8, 0.4]
    return Attribution(text=text, tokens=tokens, offsets=offsets, scores=scores, target={"text": " slice", "ids": [1], "pos": 13, "id": 1},
                       gate=[1.0] * 13, curvature=scores[::-1], information=scores, model="hand-made")

def run(chromium, url, *args, timeout=60):
    with tempfile.TemporaryDirectory() as profile:   # a fresh profile every time
        r = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args, url],
                           capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"chromium failed ({r.returncode}): {r.stderr[-3000:]}"
    return r.stdout

class Dom(HTMLParser):
    "The text of each element with class heta-tok / heta-target (script and style contents ignored), and the classes seen."
    def __init__(self):
        super().__init__(); self.stack, self.tokens, self.classes, self.skip = [], {}, set(), 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        self.classes.update(cls)
        if tag in ("script", "style"): self.skip += 1
        if tag in ("br", "wbr", "meta", "img", "input", "link", "hr"): return
        key = a.get("id") if ({"heta-tok", "heta-target"} & set(cls)) else None
        if key: self.tokens[key] = ""
        self.stack.append((tag, key))
    def handle_endtag(self, tag):
        while self.stack:
            t, _ = self.stack.pop()
            if t == tag: break
        if tag in ("script", "style"): self.skip = max(0, self.skip - 1)
    def handle_data(self, data):
        if self.skip: return
        for _, key in self.stack:
            if key: self.tokens[key] += data

def dom_of(chromium, page):
    d = Dom(); d.feed(run(chromium, page.as_uri(), "--dump-dom")); return d

def screenshot(chromium, page, png, size="1000,700"):
    run(chromium, page.as_uri(), f"--screenshot={png}", f"--window-size={size}")
    assert png.is_file() and png.stat().st_size > 0, "no screenshot written"
    import numpy as np
    from PIL import Image
    px = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3).astype(int)
    nonwhite = float((px.min(axis=1) < 245).mean())
    red = int((np.abs(px - (214, 39, 40)).max(axis=1) < 8).sum())   # the top token's saturated red
    return nonwhite, red

def check_tokens(dom, uid, a):
    for i, t in enumerate(a.tokens):
        got = dom.tokens.get(f"{uid}-tok-{i}")
        assert got is not None, f"token {i} {t!r} (id {uid}-tok-{i}) is not in the rendered DOM"
        assert got == plain(t), f"token {i}: rendered {got!r}, expected {plain(t)!r}"
    assert dom.tokens.get(f"{uid}-target") == plain(a.target["text"])

def test_static_page(chromium, shots, tmp_path):
    t0 = time.perf_counter()
    a = attribution()
    page = tmp_path / "static.html"
    page.write_text(html_page(html_heatmap(a.tokens, a.scores, a.target["text"], title="static <heatmap>", uid="st"),
                              svg_heatmap(a.tokens, a.scores, a.target["text"], uid="sv", width=60), title="heta static"),
                    encoding="utf-8")
    dom = dom_of(chromium, page)
    check_tokens(dom, "st", a)
    assert "heta-legend" in dom.classes
    nonwhite, red = screenshot(chromium, page, shots / "static.png")
    print(f"\nstatic page: {shots / 'static.png'}  non-white {nonwhite:.1%}, top-token red pixels {red}")
    assert nonwhite > 0.01, "the page looks blank"
    assert red > 2 * 300, "the saturated colour of the top token is missing (HTML and SVG each draw one)"
    assert time.perf_counter() - t0 < 30

def test_explorer_page(chromium, embed_js, shots, tmp_path):
    t0 = time.perf_counter()
    a = attribution()
    ex = Explorer(a, k=3, uid="ex")
    ex.norm.value = "sum"
    page = ex.save_html(tmp_path / "explorer.html", embed_url=embed_js)
    src = page.read_text(encoding="utf-8")
    assert "://" not in src.split('<script type="application/vnd.jupyter.widget-state+json">')[0], "the page would load something remote"
    dom = dom_of(chromium, page)
    # the widgets were drawn by the manager: controls, the heatmap and the table exist outside <script>
    for cls in ("widget-dropdown", "widget-toggle-buttons", "widget-html", "heta-map", "heta-topk"):
        assert cls in dom.classes, f"{cls} not rendered: the widget manager did not run"
    check_tokens(dom, "ex", a)
    nonwhite, red = screenshot(chromium, page, shots / "explorer.png", size="1100,800")
    print(f"\nexplorer page: {shots / 'explorer.png'}  non-white {nonwhite:.1%}, top-token red pixels {red}")
    assert nonwhite > 0.01, "the page looks blank"
    assert red > 300, "the heatmap's top token is not drawn"
    assert time.perf_counter() - t0 < 30

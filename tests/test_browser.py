"""The viewers in a real browser: headless Chromium (Debian package) renders (1) a static page from the HTML
and SVG renderers and (2) the page `Explorer.save_html` writes, with JavaScript off (the saved view must show)
and on (clicking its controls must switch the heatmap, with nothing loaded from the network). The explorer page
is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`), so the test needs nothing but
Chromium and the standard library. Every token's text must be in the rendered DOM, and the screenshots must
show the heatmap's colours. Under CI=true this test never skips."""
import base64, fcntl, json, os, re, select, subprocess, tempfile, time
from html.parser import HTMLParser
from pathlib import Path
import pytest
import browser_deps
from heta.attribution import Attribution
from heta.viz import Explorer, attribution_row, html_heatmap, html_page, plain, svg_heatmap

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
    return colours(png)

def colours(png):
    "The share of non-white pixels and the number of pixels in the top token's saturated red."
    assert png.is_file() and png.stat().st_size > 0, "no screenshot written"
    import numpy as np
    from PIL import Image
    px = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3).astype(int)
    nonwhite = float((px.min(axis=1) < 245).mean())
    red = int((np.abs(px - (214, 39, 40)).max(axis=1) < 8).sum())   # the top token's saturated red
    return nonwhite, red

def check_tokens(dom, uid, a, tokens=None, target=None):
    tokens, target = tokens or a.tokens, target or a.target["text"]
    for i, t in enumerate(tokens):
        got = dom.tokens.get(f"{uid}-tok-{i}")
        assert got is not None, f"token {i} {t!r} (id {uid}-tok-{i}) is not in the rendered DOM"
        assert got == plain(t), f"token {i}: rendered {got!r}, expected {plain(t)!r}"
    assert f"{uid}-tok-{len(tokens)}" not in dom.tokens
    assert dom.tokens.get(f"{uid}-target") == plain(target)

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

class Chrome:
    "Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe): stdlib only, no port."
    def __init__(self, chromium, timeout=30):
        self.profile = tempfile.TemporaryDirectory()       # a fresh profile every time
        cmd_r, self._cmd_w = os.pipe()                      # we write commands; Chromium reads them on its fd 3
        self._out_r, out_w = os.pipe()                      # Chromium writes replies and events on its fd 4
        def fds():
            a, b = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3); os.dup2(b, 4)                     # dup2'd descriptors survive exec
        flags = [f for f in FLAGS if not f.startswith("--virtual-time-budget")]
        self.proc = subprocess.Popen([chromium, *flags, f"--user-data-dir={self.profile.name}", "--remote-debugging-pipe",
                                      "about:blank"], preexec_fn=fds, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r); os.close(out_w)
        self.timeout, self.n, self.buf, self.events = timeout, 0, b"", []

    def _message(self):
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._out_r], [], [], left)[0]: raise TimeoutError("no reply from Chromium")
            chunk = os.read(self._out_r, 1 << 20)
            if not chunk: raise RuntimeError("Chromium closed the DevTools pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, session=None, **params):
        self.n += 1
        os.write(self._cmd_w, json.dumps({"id": self.n, "method": method, "params": params,
                                          **({"sessionId": session} if session else {})}).encode() + b"\0")
        while True:
            m = self._message()
            if m.get("id") == self.n:
                if "error" in m: raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]
            self.events.append(m)

    def open(self, url, scripts=True):
        "A new tab showing `url`, with JavaScript on or off, once loaded; its session id."
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        s = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for m in ("Page.enable", "Network.enable"): self.send(m, s)
        if not scripts: self.send("Emulation.setScriptExecutionDisabled", s, value=True)
        self.send("Emulation.setDeviceMetricsOverride", s, width=1100, height=800, deviceScaleFactor=1, mobile=False)
        self.send("Page.navigate", s, url=url)
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == "Page.loadEventFired" and e.get("sessionId") == s for e in self.events):
            if time.monotonic() > deadline: raise TimeoutError(f"{url} did not load")
            self.events.append(self._message())
        return s

    def html(self, s):
        "The rendered DOM as HTML (works with JavaScript off)."
        root = self.send("DOM.getDocument", s, depth=-1)["root"]["nodeId"]
        return self.send("DOM.getOuterHTML", s, nodeId=root)["outerHTML"]

    def has(self, s, selector):
        "Whether an element matches (works with JavaScript off)."
        root = self.send("DOM.getDocument", s)["root"]["nodeId"]
        return self.send("DOM.querySelector", s, nodeId=root, selector=selector)["nodeId"] != 0

    def js(self, s, expr):
        r = self.send("Runtime.evaluate", s, expression=expr, returnByValue=True)
        if "exceptionDetails" in r: raise RuntimeError(r["exceptionDetails"])
        return r["result"].get("value")

    def click(self, s, selector):
        "A mouse click in the middle of the element, as a user's."
        x, y = self.js(s, f"(function(){{var r=document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
                          "return [r.left+r.width/2, r.top+r.height/2];})()")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", s, type=kind, x=x, y=y, button="left", clickCount=1)

    def key(self, s, key, code):
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", s, type=kind, key=key, code=key, windowsVirtualKeyCode=code)

    def screenshot(self, s, png):
        png.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", s, format="png")["data"]))
        return colours(png)

    def requests(self, s):
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent" and e.get("sessionId") == s]

    def close(self):
        try: self.send("Browser.close")
        except Exception: pass
        try: self.proc.wait(10)
        except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()
        os.close(self._cmd_w); os.close(self._out_r); self.profile.cleanup()

@pytest.fixture
def chrome(chromium):
    c = Chrome(chromium)
    yield c
    c.close()

def generation():
    "`attribution()`'s tokens as a three-step generation: steps see 11, 12 and 13 tokens; with HETA components."
    a = attribution()
    import numpy as np
    S = np.zeros((3, 13)); G = np.zeros((3, 13))
    for j, n in enumerate((11, 12, 13)):
        S[j, :n] = np.roll(a.scores, j)[:n]; G[j, :n] = 1.0
    return Attribution(text=a.text, tokens=a.tokens, offsets=a.offsets, target={"text": " cut a slice", "ids": [1, 2, 3], "pos": 11, "id": 1},
                       targets=[{"text": " cut", "id": 1, "pos": 11}, {"text": " a", "id": 2, "pos": 12}, {"text": " slice", "id": 3, "pos": 13}],
                       scores=S, gate=G, curvature=S[:, ::-1].copy(), information=S ** 2, model="hand-made")

def scores_in(h, uid):
    "The data-score of each heatmap token, in order."
    return re.findall(rf'class="heta-tok" id="{uid}-tok-\d+" data-score="([^"]+)"', h)

def shown(chrome, s, uid):
    "The heatmap tokens the page shows now: (id, data-score) pairs."
    return chrome.js(s, f"[].map.call(document.querySelectorAll('#{uid}-heatmap .heta-tok'), "
                        "function (e) { return [e.id, e.getAttribute('data-score')]; })")

def test_explorer_page_without_javascript(chrome, shots, tmp_path):
    t0 = time.perf_counter()
    a = generation()
    ex = Explorer(a, k=3, uid="ex")
    ex.norm.value = "sum"
    page = ex.save_html(tmp_path / "explorer.html")
    s = chrome.open(page.as_uri(), scripts=False)
    assert chrome.requests(s) == [page.as_uri()], "the page loaded something besides itself"
    dom = Dom(); dom.feed(chrome.html(s))
    r = attribution_row(a, 0)
    check_tokens(dom, "ex", a, r.tokens, r.target)           # the saved view: target 0 saw 11 tokens
    assert chrome.has(s, "noscript .heta-noscript") and chrome.has(s, "#ex-table .heta-topk")   # the note is rendered
    assert re.search(r'id="ex-controls" hidden', chrome.html(s)), "controls that cannot work are shown"
    nonwhite, red = chrome.screenshot(s, shots / "explorer-nojs.png")
    print(f"\nexplorer page without JavaScript: {shots / 'explorer-nojs.png'}  non-white {nonwhite:.1%}, red pixels {red}")
    assert nonwhite > 0.01, "the page looks blank"
    assert red > 300, "the heatmap's top token is not drawn"
    assert time.perf_counter() - t0 < 30

def test_explorer_page_switches_offline(chrome, shots, tmp_path):
    t0 = time.perf_counter()
    a = generation()
    ex = Explorer(a, k=3, uid="ex")
    page = ex.save_html(tmp_path / "explorer.html")
    s = chrome.open(page.as_uri())
    assert chrome.js(s, "document.getElementById('ex-controls').hidden") is False, "the page script did not run"
    before = shown(chrome, s, "ex")
    assert [v for _, v in before] == scores_in(ex.html, "ex") and len(before) == 11
    chrome.click(s, '#ex-scale [data-value="2"]')            # scale: rank, by a mouse click
    after = shown(chrome, s, "ex")
    assert after != before, "clicking 'rank' did not change the heatmap"
    assert [v for _, v in after] == scores_in(ex.render(scale="rank")[0], "ex")
    assert chrome.js(s, "document.querySelector('#ex-scale [data-value=\"2\"]').getAttribute('aria-pressed')") == "true"
    chrome.js(s, "document.getElementById('ex-target').focus()")
    chrome.key(s, "ArrowDown", 40)                            # target: the next generated token, from the keyboard
    assert chrome.js(s, "document.getElementById('ex-target').value") == "1"
    assert [v for _, v in shown(chrome, s, "ex")] == scores_in(ex.render(target=1, scale="rank")[0], "ex")
    assert len(shown(chrome, s, "ex")) == 12                  # step 1 saw one token more
    chrome.js(s, "var e = document.getElementById('ex-show'); e.value = '2'; e.dispatchEvent(new Event('change'))")
    assert [v for _, v in shown(chrome, s, "ex")] == scores_in(ex.render(1, "curvature", "rank")[0], "ex")
    assert "curvature (rank)" in chrome.js(s, "document.getElementById('ex-heatmap').textContent")
    assert chrome.js(s, "document.querySelectorAll('#ex-table tr').length") == 4   # the top-3 table followed
    nonwhite, red = chrome.screenshot(s, shots / "explorer.png")
    print(f"\nexplorer page after switching: {shots / 'explorer.png'}  non-white {nonwhite:.1%}, red pixels {red}")
    assert nonwhite > 0.01 and red > 300, "the switched heatmap is not drawn"
    assert chrome.requests(s) == [page.as_uri()], "the page loaded something besides itself"
    assert time.perf_counter() - t0 < 30

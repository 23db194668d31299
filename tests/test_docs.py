"""The documentation site (`make docs`, docs/make_site.py) in a real browser, offline.

A session fixture builds the site into a temporary folder (about 15-30 s: no notebook is run), then headless Chromium
(tests/test_browser.py's DevTools-over-a-pipe driver) opens every page from disk and the test fails on: any request
that is not file:// or data:, a JavaScript exception or console error (a missing local file is one), TeX left as
text (no `mjx-container` where the page has math, or `$$`, `\\frac`, ... outside MathJax's output), a chapter whose
stored figures (image/png, image/svg+xml outputs of the cells the docs show) are not all on its page and loaded,
an exported name without its API entry, and the Explorer cell's widget without its rendered view. Two screenshots
(a chapter with formulas, the heatmaps of the viewer chapter) go to $HETA_SCREENSHOTS or a pytest tmp dir.
Under CI=true nothing here skips (`make test` installs Sphinx, myst-nb and furo with the dev extras, Chromium in
browser-deps, and the build fetches MathJax and the widget manager with npm once)."""
import importlib, json, re, sys, time
from pathlib import Path
import pytest
from test_browser import CI, Chrome, chromium, colours, shots, unavailable   # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import make_site as docs_build   # docs/make_site.py
import heta_docs             # docs/heta_docs.py

TEX = re.compile(r"\$\$|\\(frac|mathrm|sum|begin|end|left|right|cdot|nabla|partial|lVert|bigl|beta|gamma)\b|\\\(|\\\[")
VISIBLE_TEXT = """(function () {
  var root = (document.querySelector('article') || document.body).cloneNode(true);
  root.querySelectorAll('mjx-container, pre, code, script, style, .highlight, .headerlink').forEach(function (e) { e.remove(); });
  return root.textContent; })()"""
WAIT_MATH = """(window.MathJax && MathJax.startup && MathJax.startup.promise ? MathJax.startup.promise : Promise.resolve())
  .then(function () { return [document.querySelectorAll('.math').length, document.querySelectorAll('mjx-container').length]; })"""
IMAGES = """[].map.call(document.querySelectorAll('.cell_output img'), function (e) { return [e.getAttribute('src'), e.naturalWidth]; })"""
ALL_IMAGES = """[].map.call(document.images, function (e) { return [e.getAttribute('src'), e.complete && e.naturalWidth]; })"""


class DocsChrome(Chrome):
    "tests/test_browser.py's driver, also listening for JavaScript exceptions and console errors on every tab."
    def send(self, method, session=None, **params):
        r = super().send(method, session, **params)
        if method == "Network.enable" and session:
            super().send("Runtime.enable", session); super().send("Log.enable", session)
        return r

    def evaluate(self, s, expr):
        r = self.send("Runtime.evaluate", s, expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r: raise RuntimeError(r["exceptionDetails"])
        return r["result"].get("value")

    def errors(self, s):
        out = []
        for e in self.events:
            if e.get("sessionId") != s: continue
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown": out.append(f"exception: {p['exceptionDetails'].get('exception', {}).get('description') or p['exceptionDetails'].get('text')}")
            elif m == "Runtime.consoleAPICalled" and p.get("type") == "error": out.append(f"console.error: {[a.get('value', a.get('description')) for a in p.get('args', [])]}")
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error": out.append(f"log: {p['entry']['text']} {p['entry'].get('url', '')}")
            elif m == "Network.loadingFailed": out.append(f"failed to load: {p.get('errorText')}")
        return out

    def close_tab(self, s):
        self.send("Target.closeTarget", targetId=self.send("Target.getTargetInfo", s)["targetInfo"]["targetId"])


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    "The site, built fresh from this checkout by the same function `make docs` runs."
    for m in ("sphinx", "myst_nb", "furo"):
        try: importlib.import_module(m)
        except ImportError: unavailable(f"{m} is not installed (the dev extras: `make install`)")
    import shutil
    if shutil.which("npm") is None and not all((docs_build.JS / n / ".version").is_file() for _, _, n in docs_build.NPM):
        unavailable("npm is needed once to fetch MathJax and the ipywidgets HTML manager (`make docs-deps`)")
    out = tmp_path_factory.mktemp("docs") / "_docs"
    t0 = time.perf_counter()
    docs_build.build(out)
    print(f"\ndocs built in {time.perf_counter() - t0:.0f} s")
    return out


@pytest.fixture(scope="module")
def browser(chromium):
    c = DocsChrome(chromium, timeout=60)
    yield c
    c.close()


def pages(site):
    return sorted(p for p in site.rglob("*.html") if not p.relative_to(site).parts[0].startswith("_"))


def expected_figures(nb):
    "Stored figures (image/png or image/svg+xml outputs) of the cells the docs show."
    n = 0
    for c in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
        if c["cell_type"] != "code": continue
        d, _ = docs_build.split_directives("".join(c["source"]))
        if not docs_build.shown(d) or d.get("output", "").lower() == "false": continue
        n += sum(1 for o in c.get("outputs", []) if {"image/png", "image/svg+xml"} & set(o.get("data", {})))
    return n


def _documented(a, b=2, # how many
                c:str="x", # the label
               ) -> int: # the total
    "Add things."
    return a


def test_docments_become_parameter_fields():
    lines = ["Add things."]
    heta_docs.process_docstring(None, "function", "_documented", _documented, {}, lines)
    assert lines == ["Add things.", "", ":param b: how many", ":param c: the label", ":returns: the total"]
    lines = ["Add things.", "", ":param b: said here"]          # a docstring's own field wins
    heta_docs.process_docstring(None, "function", "_documented", _documented, {}, lines)
    assert lines.count(":param b: said here") == 1 and not any(l.startswith(":param b: how") for l in lines)
    lines = ["The |score| at which colours saturate."]             # plain text: bars are not substitutions
    heta_docs.process_docstring(None, "data", "x", None, {}, lines)
    assert lines == ["The \\|score\\| at which colours saturate."]
    from heta.viz import Explorer
    assert ":param k: rows in the top-k table" in heta_docs.docments_lines(Explorer)            # a class: its __init__
    assert heta_docs.docments_lines(len) == []                                                    # no source: nothing


def test_site_structure(site):
    names = [p.relative_to(site).with_suffix("").as_posix() for p in pages(site)]
    order = [nb.relative_to(docs_build.NBS).with_suffix("").as_posix() for nb in docs_build.notebooks()]
    assert order[:2] == ["index", "tutorial"] and order[-1].startswith("studies/") and "11_cli" in order
    assert set(order) <= set(names), f"pages missing: {set(order) - set(names)}"
    nav = re.findall(r'class="reference internal" href="([^"#]+)\.html"', (site / "index.html").read_text(encoding="utf-8"))
    nav = list(dict.fromkeys(n for n in nav if n in order))
    assert nav == order[1:], f"the sidebar's order {nav} is not the reading order {order[1:]}"
    for p in pages(site):
        h = p.read_text(encoding="utf-8")
        assert not re.search(r'(src|href)="(https?:)?//[^"]*\.(js|css|woff2?)', h), f"{p.name} loads a remote asset"
    import heta
    for mod in sorted(docs_build.ROOT.joinpath("heta").glob("[a-z]*.py")):
        m = importlib.import_module(f"heta.{mod.stem}")
        page = site / "api" / f"heta.{mod.stem}.html"
        assert page.is_file(), f"no API page for heta.{mod.stem}"
        h = page.read_text(encoding="utf-8")
        for name in getattr(m, "__all__", []):
            obj = getattr(m, name)
            if callable(obj): assert f'id="heta.{mod.stem}.{name}"' in h, f"heta.{mod.stem}.{name} has no API entry"
    viz = (site / "api" / "heta.viz.html").read_text(encoding="utf-8")
    assert "rows in the top-k table" in viz and "the page title" in viz, "the docments parameter comments are missing"


def test_every_page_offline(site, browser, shots):
    t0 = time.perf_counter()
    figures = {(site / nb.relative_to(docs_build.NBS)).with_suffix(".html"): expected_figures(nb) for nb in docs_build.notebooks()}
    problems, with_math = [], 0
    for page in pages(site):
        name = page.relative_to(site).as_posix()
        s = browser.open(page.as_uri())
        n_math, n_mjx = browser.evaluate(s, WAIT_MATH)
        if n_math:
            with_math += 1
            if n_mjx < n_math: problems.append(f"{name}: {n_math} formulas but {n_mjx} rendered by MathJax")
        left = TEX.search(browser.evaluate(s, VISIBLE_TEXT))
        if left: problems.append(f"{name}: TeX left as text near {left.group(0)!r}")
        for src, w in browser.evaluate(s, ALL_IMAGES):
            if not w: problems.append(f"{name}: image {src} did not load")
        if page in figures:
            got = len(browser.evaluate(s, IMAGES))
            if got != figures[page]: problems.append(f"{name}: {figures[page]} stored figures, {got} on the page")
        remote = [u for u in browser.requests(s) if not u.startswith(("file://", "data:"))]
        if remote: problems.append(f"{name}: requests leaving the machine: {remote[:5]}")
        problems += [f"{name}: {e}" for e in browser.errors(s)]
        browser.close_tab(s)
    assert not problems, "\n".join(problems)
    assert with_math >= 8, f"only {with_math} pages have formulas"
    print(f"\n{len(pages(site))} pages checked in {time.perf_counter() - t0:.0f} s; {with_math} with formulas")


def scroll_to(browser, s, selector, offset):
    "Scroll the element to the top of the window at once (furo scrolls smoothly, which a screenshot would catch midway)."
    browser.evaluate(s, f"var e = document.querySelector({json.dumps(selector)}); "
                        f"window.scrollTo({{top: e.getBoundingClientRect().top + window.scrollY + ({offset}), behavior: 'instant'}}); "
                        "new Promise(function (r) { requestAnimationFrame(function () { requestAnimationFrame(r); }); })")


def test_screenshots(site, browser, shots):
    s = browser.open((site / "03_hessian.html").as_uri())
    assert browser.evaluate(s, WAIT_MATH)[1] > 5
    scroll_to(browser, s, "h2 ~ div.math, div.math", -200)
    nonwhite, _ = browser.screenshot(s, shots / "docs-formulas.png")
    print(f"\nformulas: {shots / 'docs-formulas.png'}  non-white {nonwhite:.1%}")
    assert nonwhite > 0.02
    browser.close_tab(s)
    s = browser.open((site / "09_viewers.html").as_uri())
    browser.evaluate(s, WAIT_MATH)
    scroll_to(browser, s, "#heta-rank", -260)      # the real model's heatmap (and the one above it)
    nonwhite, red = browser.screenshot(s, shots / "docs-heatmap.png")
    print(f"heatmap: {shots / 'docs-heatmap.png'}  non-white {nonwhite:.1%}, red pixels {red}")
    assert red > 100, "the heatmap's saturated red is not on the screenshot"
    browser.close_tab(s)


def test_explorer_widget_view(site, browser, shots):
    "The viewer chapter's Explorer cell: its widget state rendered by the local HTML manager (controls and heatmap)."
    page = site / "09_viewers.html"
    assert 'type="application/vnd.jupyter.widget-state+json"' in page.read_text(encoding="utf-8"), "no widget state stored"
    s = browser.open(page.as_uri())
    found = browser.evaluate(s, """new Promise(function (done) {
      var t0 = Date.now();
      (function poll() {
        var n = document.querySelectorAll('.cell_output .widget-dropdown, .cell_output .widget-toggle-buttons').length;
        var maps = document.querySelectorAll('.cell_output .widget-html .heta-map').length;
        if ((n && maps) || Date.now() - t0 > 20000) done([n, maps]); else setTimeout(poll, 100);
      })(); })""")
    assert found[0] >= 3 and found[1] >= 1, f"the Explorer widget did not render (controls {found[0]}, heatmaps {found[1]})"
    scroll_to(browser, s, ".cell_output .widget-vbox", -60)
    nonwhite, red = browser.screenshot(s, shots / "docs-explorer-widget.png")
    print(f"\nexplorer widget: {shots / 'docs-explorer-widget.png'}  red pixels {red}")
    remote = [u for u in browser.requests(s) if not u.startswith(("file://", "data:"))]
    assert not remote and not browser.errors(s), (remote, browser.errors(s))
    assert red > 100, "the widget's heatmap is not drawn"
    browser.close_tab(s)

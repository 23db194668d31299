"""What tests/test_browser.py needs besides Python: Chromium (Debian packages, installed by `make browser-deps`).

The pages heta writes are self-contained (no scripts from a CDN), so Chromium is all the browser test needs.
`python tests/browser_deps.py` reports whether it is there.
"""
import os, shutil, sys

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")

def chromium_path():
    "The Chromium executable, or None."
    for c in CHROMIUM:
        p = (c if os.access(c, os.X_OK) else None) if c.startswith("/") else shutil.which(c)
        if p: return p
    return None

if __name__ == "__main__":
    c = chromium_path()
    print(f"browser test: chromium {'at ' + c if c else 'MISSING (Debian packages chromium, chromium-driver)'}")
    sys.exit(0 if c else 1)

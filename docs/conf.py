"""Sphinx settings for the offline site `make docs` builds into _docs/ (docs/make_site.py stages its sources).

The pages are the notebooks with their stored outputs (myst-nb, execution off), then one API page per module
(autodoc, with the parameter comments of nbdev's docments added by docs/heta_docs.py). Everything a page loads is
local: the theme ships in its wheel, MathJax 3 and the ipywidgets HTML manager come from npm (docs/make_site.py)."""
import os, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]            # `heta` from this checkout, and the docs extension
JS = Path(os.environ.get("HETA_DOCS_JS", HERE / "_build" / "js"))   # npm packages unpacked by docs/make_site.py

project = "heta"
author = "heta developers"
copyright = "2026 onwards, heta developers"
import heta
release = version = heta.__version__

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax", "heta_docs"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "misc.highlighting_failure"]

# Notebooks: render what they store, never run them.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "html_image"]
myst_heading_anchors = 3
myst_dmath_double_inline = True                  # `$$...$$` inside a paragraph or list item is display math too

# MathJax 3 from the local copy (a path relative to _static), so no page asks a CDN.
mathjax_path = "mathjax/tex-chtml.js"
# The ipywidgets HTML manager, local too (myst-nb adds these only to pages that store widget state).
nb_ipywidgets_js = {"html-manager/embed.js": {}}   # no crossorigin: file:// pages would block it

# API reference: every name in a module's __all__, in source order, with the docments parameter lists.
autodoc_default_options = {"members": True, "undoc-members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
default_role = "literal"          # docstrings are written for nbdev: `name` means code, as in Markdown
autodoc_preserve_defaults = True
autodoc_mock_imports = []

html_theme = "furo"
html_title = "heta"
html_static_path = [str(HERE / "_static"), str(JS)]
html_css_files = ["heta.css"]
html_js_files = [("heta-mathjax-hub.js", {"priority": 100})]   # before MathJax and the widget manager
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {"navigation_with_keys": True}

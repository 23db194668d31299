#!/usr/bin/env bash
# README.md is generated from nbs/index.ipynb. nbdev_readme needs the quarto binary, which cannot
# be installed from a package registry; without it we use .ci/readme.py, which writes the same
# gfm (markdown cells verbatim, code cells fenced, outputs dropped).
set -euo pipefail
if command -v quarto >/dev/null 2>&1 && [ "${HETA_README:-}" = quarto ]; then nbdev_readme; else python .ci/readme.py; fi
echo "README.md written from nbs/index.ipynb"

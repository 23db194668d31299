#!/usr/bin/env bash
# Fails when nbdev_clean or nbdev_export would change anything, or README.md is stale.
# Runs on a copy, so it never edits your files.
set -euo pipefail
root=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r settings.ini nbs heta "$tmp"/
[ -f README.md ] && cp README.md "$tmp"/
find "$tmp" -name __pycache__ -prune -exec rm -rf {} +
( cd "$tmp" && nbdev_clean >/dev/null && nbdev_export >/dev/null && python "$root/.ci/readme.py" >/dev/null )
status=0
changed=$(diff -rq -x __pycache__ -x '*.egg-info' "$root/nbs" "$tmp/nbs" | sed "s|$tmp/||;s|$root/||" || true)
if [ -n "$changed" ]; then
  echo "ERROR: notebooks are not clean (outputs or metadata noise). Run: .venv/bin/nbdev_clean"; echo "$changed"; status=1
fi
changed=$(diff -rq -x __pycache__ -x '*.egg-info' "$root/heta" "$tmp/heta" | sed "s|$tmp/||;s|$root/||" || true)
if [ -n "$changed" ]; then
  echo "ERROR: the package heta/ is out of sync with the notebooks (an exported cell was edited"
  echo "       without re-exporting, or heta/ was edited by hand). Run: .venv/bin/nbdev_export"
  diff -ru -x __pycache__ "$root/heta" "$tmp/heta" | head -40 || true
  status=1
fi
if ! cmp -s "$root/README.md" "$tmp/README.md"; then
  echo "ERROR: README.md is out of date with nbs/index.ipynb. Run: make readme"; status=1
fi
[ $status -eq 0 ] && echo "notebooks clean and in sync with heta/ and README.md"
exit $status

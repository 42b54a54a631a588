#!/usr/bin/env bash
# make demo: the main job end to end on the embedded SQLite default.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/steward-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "== demo: working in $work"
./bin/steward version

#!/usr/bin/env bash
# The same practice three ways — SQLite canonical, SQLite tpp layout,
# PostgreSQL canonical — must give the same MedSIP figures (steward run).
# Usage: scripts/parity.sh PATIENTS   (needs STEWARD_TEST_PG; make bench runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50000}
bin=$PWD/bin
work=$(mktemp -d "${TMPDIR:-/tmp}/steward-parity.XXXXXX")
trap 'rm -rf "$work"' EXIT
args=(--pack medsip --practice Y01234 --as-of 2025-03-31 --baseline 2024-03-31 --unprotected)
"$bin/steward" synth --patients "$n" --seed 3 --db "sqlite:$work/c.db" >/dev/null
"$bin/steward" synth --patients "$n" --seed 3 --layout tpp --db "sqlite:$work/t.db" >/dev/null
"$bin/steward" run --db "sqlite:$work/c.db" "${args[@]}" >"$work/sqlite.json"
"$bin/steward" run --db "sqlite:$work/t.db" --profile tpp "${args[@]}" >"$work/sqlite-tpp.json"
outs=(sqlite sqlite-tpp)
if [ -n "${STEWARD_TEST_PG:-}" ]; then
  psql -q "$STEWARD_TEST_PG" -c "DROP DATABASE IF EXISTS parity" -c "CREATE DATABASE parity" >/dev/null
  url=$(python3 -c "import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path='/parity').geturl())" "$STEWARD_TEST_PG")
  "$bin/steward" synth --patients "$n" --seed 3 --db "$url" >/dev/null
  "$bin/steward" run --db "$url" "${args[@]}" >"$work/postgres.json"
  psql -q "$STEWARD_TEST_PG" -c "DROP DATABASE parity" >/dev/null
  outs+=(postgres)
fi
python3 - "$work" "${outs[@]}" <<'PY'
import json, sys
work, names = sys.argv[1], sys.argv[2:]
docs = {n: json.load(open(f"{work}/{n}.json"))["measures"] for n in names}
base = docs[names[0]]
ok = True
for n in names[1:]:
    if docs[n] != base:
        ok = False
        for a, b in zip(base, docs[n]):
            if a != b:
                print(f"DIFFER {names[0]} vs {n}: {a['id']}: {a.get('value')} vs {b.get('value')}")
lt = next(m for m in base if m["id"] == "long_term")["value"]
print(f"parity: {', '.join(names)} agree on all {len(base)} measures (long_term = {lt})" if ok else "parity: MISMATCH")
sys.exit(0 if ok else 1)
PY

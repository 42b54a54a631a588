#!/usr/bin/env bash
# The same practice in every layout (canonical, SystmOne's tpp tables, EMIS
# Web's emis tables) on every engine (SQLite, and PostgreSQL when
# STEWARD_TEST_PG is set) must give the same MedSIP figures (steward run),
# but for the measures a layout cannot compute, which steward run names on
# stderr (emis has no issue quantities) and which must then differ from
# nothing else.
# Usage: scripts/parity.sh PATIENTS   (make bench runs it with STEWARD_TEST_PG)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50000}
bin=$PWD/bin
work=$(mktemp -d "${TMPDIR:-/tmp}/steward-parity.XXXXXX")
trap 'rm -rf "$work"' EXIT
args=(--pack medsip --practice Y01234 --as-of 2025-03-31 --baseline 2024-03-31 --unprotected)
layouts=(canonical tpp emis)
outs=()

# one ENGINE LAYOUT URL: write the practice at URL in LAYOUT and run the
# pack through the layout's built-in profile with the parameters synth
# prints ("read it with --profile ... --profile-param ...").
one() {
  local engine=$1 layout=$2 url=$3 read
  read=$("$bin/steward" synth --patients "$n" --seed 3 --layout "$layout" --db "$url" | sed -n 's/^read it with //p')
  # shellcheck disable=SC2086 # read holds several flags
  "$bin/steward" run --db "$url" $read "${args[@]}" >"$work/$engine-$layout.json" 2>"$work/$engine-$layout.err"
  outs+=("$engine-$layout")
}

for l in "${layouts[@]}"; do
  one sqlite "$l" "sqlite:$work/$l.db"
  rm -f "$work/$l.db"
done
if [ -n "${STEWARD_TEST_PG:-}" ]; then
  for l in "${layouts[@]}"; do
    psql -q "$STEWARD_TEST_PG" -c "SET client_min_messages TO warning" -c "DROP DATABASE IF EXISTS parity_$l" -c "CREATE DATABASE parity_$l" >/dev/null
    url=$(python3 -c "import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path='/parity_'+sys.argv[2]).geturl())" "$STEWARD_TEST_PG" "$l")
    one postgres "$l" "$url"
    psql -q "$STEWARD_TEST_PG" -c "DROP DATABASE parity_$l" >/dev/null
  done
fi
python3 - "$work" "${outs[@]}" <<'PY'
import json, re, sys
work, names = sys.argv[1], sys.argv[2:]
docs = {n: json.load(open(f"{work}/{n}.json"))["measures"] for n in names}
skip = {}
for n in names:
    m = re.search(r"has no issue quantities: (.*?) cannot be computed", open(f"{work}/{n}.err").read())
    skip[n] = set(m.group(1).split(", ")) if m else set()
base = names[0]
ok, compared = True, {}
for n in names[1:]:
    if [m["id"] for m in docs[n]] != [m["id"] for m in docs[base]]:
        print(f"DIFFER {base} vs {n}: the measures are not the same ones"); ok = False; continue
    compared[n] = 0
    for a, b in zip(docs[base], docs[n]):
        if a["id"] in skip[n]:
            continue
        compared[n] += 1
        if a != b:
            ok = False
            print(f"DIFFER {base} vs {n}: {a['id']}: {a.get('value')} vs {b.get('value')}")
lt = next(m for m in docs[base] if m["id"] == "long_term")["value"]
total = len(docs[base])
for n in names[1:]:
    extra = f" (its layout cannot compute {len(skip[n])}: {', '.join(sorted(skip[n]))})" if skip[n] else ""
    print(f"  {n}: {compared.get(n, 0)} of {total} measures identical to {base}{extra}")
print(f"parity: {', '.join(names)} agree (long_term = {lt})" if ok else "parity: MISMATCH")
sys.exit(0 if ok else 1)
PY

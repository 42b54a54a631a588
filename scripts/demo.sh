#!/usr/bin/env bash
# make demo: the main job end to end on the embedded SQLite default, with no
# network and no setup: a synthetic practice -> the MedSIP searches -> the
# measures -> an enrolled agent delivering to a collector on loopback ->
# the scheme's reconciliation.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bin=$PWD/bin
work=$(mktemp -d "${TMPDIR:-/tmp}/steward-demo.XXXXXX")
collector_pid=
cleanup() {
  [ -n "$collector_pid" ] && kill "$collector_pid" 2>/dev/null && wait "$collector_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }
# A throwaway password for the demo's own users (never used elsewhere).
demo_password=demo-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
cd "$work"

say "1. A synthetic practice: 5,000 patients, 10 years of history (SQLite)"
"$bin/steward" synth --patients 5000 --seed 42 --start 2015-04-01 --end 2025-03-31 --db sqlite:practice.db

say "2. The MedSIP measures as of 2025-03-31, baseline 2024-03-31 (steward run)"
"$bin/steward" run --db sqlite:practice.db --pack medsip --practice Y01234 \
  --as-of 2025-03-31 --baseline 2024-03-31 --format table

say "3. The ICB's collector on loopback, and the practice added to it"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/steward-collector" init-config --out collector.yaml >/dev/null 2>&1
sed -i "s/127.0.0.1:8080/127.0.0.1:$port/; s/icb: \"QWE\"/icb: \"QWE\"/" collector.yaml
"$bin/steward-collector" serve --config collector.yaml >collector.log 2>&1 &
collector_pid=$!
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
"$bin/steward-collector" practice add --config collector.yaml --ods Y01234 --name "Demo Surgery" --icb QWE | tee add.txt
code=$(grep -oE '^  [A-Z0-9]{4}(-[A-Z0-9]{4})+' add.txt | head -n 1 | tr -d ' ')

say "4. The practice's agent: init, enrol with the one-time code, one cycle"
"$bin/steward-agent" init --config agent.yaml --practice Y01234 --data-dir "$work/agent-data" >/dev/null
sed -i "s#url: sqlite:practice.db#url: sqlite:$work/practice.db#; s#url: https://steward.icb.example#url: http://127.0.0.1:$port#" agent.yaml
sed -i "s#  catch_up_months: 12#  catch_up_months: 12\n  first_as_of: 2025-01-31#" agent.yaml
"$bin/steward-agent" check --config agent.yaml --offline
"$bin/steward-agent" enrol --config agent.yaml --code "$code"
for m in 2025-01-31 2025-02-28 2025-03-31; do
  "$bin/steward-agent" once --config agent.yaml --as-of "$m" 2>/dev/null
done
"$bin/steward-agent" status --config agent.yaml

say "5. What the collector received"
"$bin/steward-collector" practice list --config collector.yaml

if "$bin/steward-collector" reconcile --help >/dev/null 2>&1; then
  say "6. Reconciliation: the example scheme, moved to 2024/25 for this practice, March 2025"
  # The example scheme runs 2026/27 for four illustrative practices; the demo
  # practice's history ends in March 2025, so shift it two years back and
  # enrol the demo practice (late submissions paid: the demo sends them now).
  sed -e 's/2026/2024/g; s/2027/2025/g; s/mos-2024-27/mos-2024-25/; s#2024/27#2024/25#; s/icb: QXX/icb: QWE/; s/late_submissions: withhold/late_submissions: pay/' \
      -e 's/versions: ">=2024.1.0 <2025.0.0"/versions: ">=2026.1.0 <2027.0.0"/' \
      -e 's/  - Y01001/  - Y01234/; /  - Y0100[234]/d' \
      "$repo/schemes/medsip-local-example.yaml" >demo-scheme.yaml
  # check says what add would refuse (another ICB, unknown practices, a pack
  # range no agent runs...) without storing anything.
  "$bin/steward-collector" scheme check --config collector.yaml demo-scheme.yaml
  "$bin/steward-collector" scheme add --config collector.yaml demo-scheme.yaml
  # List size and the practice's declaration are scheme inputs the ICB holds.
  printf 'ods,list_size\nY01234,5000\n' >list-sizes.csv
  "$bin/steward-collector" practice list-size --config collector.yaml --month 2024-04 --actor demo list-sizes.csv
  "$bin/steward-collector" scheme declare --config collector.yaml --scheme example-icb-opioid-mos-2024-25 \
    --ods Y01234 --declaration opioid_lead_named --from 2024-04 --actor demo
  "$bin/steward-collector" reconcile --config collector.yaml --scheme example-icb-opioid-mos-2024-25 \
    --period 2025-03 --actor demo

  say "7. A correction: the practice resends March with a reason; the claim's history shows it"
  "$bin/steward-agent" resend --config agent.yaml --as-of 2025-03-31 \
    --reason "registrations refreshed late on the 5th: March recomputed on the full extract" 2>/dev/null
  "$bin/steward-collector" reconcile --config collector.yaml --scheme example-icb-opioid-mos-2024-25 \
    --period 2025-03 --actor demo >/dev/null
  "$bin/steward-collector" claim history --config collector.yaml --scheme example-icb-opioid-mos-2024-25 --period 2025-03

  say "8. Sign-off: the practice manager declares, the ICB's lead approves, finance pays"
  printf '%s\n' "$demo_password" | "$bin/steward-collector" user add --config collector.yaml --name demo-analyst \
    --role icb_analyst --icb QWE --sign-off icb_medicines_optimisation_lead --password-stdin
  printf '%s\n' "$demo_password" | "$bin/steward-collector" user add --config collector.yaml --name demo-finance \
    --role icb_analyst --icb QWE --sign-off icb_finance --password-stdin
  printf '%s\n' "$demo_password" | "$bin/steward-collector" user add --config collector.yaml --name demo-practice \
    --role practice --practice Y01234 --sign-off practice_manager --password-stdin
  for step in "declared demo-practice" "approved demo-analyst" "paid demo-finance"; do
    set -- $step
    "$bin/steward-collector" claim move --config collector.yaml --scheme example-icb-opioid-mos-2024-25 \
      --period 2025-03 --ods Y01234 --to "$1" --user "$2"
  done
  "$bin/steward-collector" claim history --config collector.yaml --scheme example-icb-opioid-mos-2024-25 --period 2025-03

  say "9. Finance's CSV, with a manifest of its row count and totals beside it"
  "$bin/steward-collector" export --config collector.yaml --scheme example-icb-opioid-mos-2024-25 --period 2025-03 \
    --out payments-2025-03.csv --actor demo
  cat payments-2025-03.csv.manifest.json
fi

say "Dashboard: http://127.0.0.1:$port/ (sign in as demo-analyst, demo-finance or demo-practice, password $demo_password)"
if [ "${STEWARD_DEMO_KEEP:-0}" = 1 ]; then
  echo "The collector keeps running; press Ctrl-C to stop it and remove the demo's files."
  wait "$collector_pid"
else
  echo "The collector stops when the demo ends; run 'STEWARD_DEMO_KEEP=1 make demo' to keep it running and look."
fi

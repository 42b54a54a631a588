#!/usr/bin/env bash
# The sign-in flood against the real collector binary (bin/, from make
# build): 500 POST /login attempts from 100 connections on loopback, while
# /healthz latency and the process's memory are sampled. Two scenarios:
#   one-address  every attempt from one client, wrong passwords for one
#                real user (throttling and the lockout answer most of them)
#   distributed  every attempt from a different client address and for a
#                different unknown name, as a botnet would: nothing is
#                throttled, every attempt needs a password check, and only
#                the hash pool bounds memory
# Targets: peak RSS (VmHWM) under 400 MB, /healthz p99 under 50 ms. The
# line "idle" samples /healthz for 5 s with no sign-ins first: on a machine
# busy with other work its p99 shows how much of the flood's figure is not
# the collector's doing.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin
flood=$PWD/bin/signinflood
go build -o "$flood" ./scripts/signinflood
work=$(mktemp -d "${TMPDIR:-/tmp}/steward-signin.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

printf '%-12s %8s %6s %8s %-24s %7s %8s %8s %8s %8s %8s %8s\n' scenario attempts conns secs statuses healthz p50_ms p99_ms max_ms rss0_MB rss_MB peak_MB
for scenario in idle one-address distributed; do
  dir=$work/$scenario
  mkdir -p "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  extra=
  args=(--name ana)
  if [ "$scenario" = idle ]; then
    args=(--idle 5s)
  elif [ "$scenario" = distributed ]; then
    extra='  client_address_header: X-Forwarded-For'
    args=(--spread)
  fi
  cat >"$dir/collector.yaml" <<YAML
version: 1
icb: QWE
listen: "127.0.0.1:$port"
storage: "sqlite:collector.db"
sign_in:
  memory_budget_mib: ${STEWARD_BENCH_SIGNIN_BUDGET:-128}
$extra
YAML
  printf '%s\n' "bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" |
    "$bin/steward-collector" user add --name ana --role admin --password-stdin --config "$dir/collector.yaml" >/dev/null
  "$bin/steward-collector" serve --config "$dir/collector.yaml" 2>"$dir/log" &
  pid=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  sleep 1 # let start-up settle before the memory baseline
  "$flood" --url "http://127.0.0.1:$port" --pid "$pid" --attempts 500 --conns 100 --label "$scenario" "${args[@]}"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  pid=
done

#!/usr/bin/env bash
# Run a command with STEWARD_TEST_PG pointing at a throwaway PostgreSQL
# cluster on a free loopback port, then remove the cluster. If STEWARD_TEST_PG
# is already set, the command runs against that server instead.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${STEWARD_TEST_PG:-}" ]; then
  STEWARD_REQUIRE_PG=1 exec "$@"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 55432)
dir=$(mktemp -d "${TMPDIR:-/tmp}/steward-pg.XXXXXX")
cleanup() { "$here/pg-cluster.sh" stop "$dir"; }
trap cleanup EXIT INT TERM
url=$("$here/pg-cluster.sh" start "$dir" "$port")
echo "with-postgres: throwaway PostgreSQL cluster on 127.0.0.1:$port" >&2
STEWARD_TEST_PG=$url STEWARD_REQUIRE_PG=1 "$@"

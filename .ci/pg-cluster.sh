#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL cluster on a loopback port for tests.
#   scripts/pg-cluster.sh start DIR PORT   -> prints the connection URL on stdout
#   scripts/pg-cluster.sh stop DIR
# The cluster runs as a non-root user (the "postgres" system user when invoked
# as root), listens only on 127.0.0.1, and trusts loopback connections: it is
# for tests only and is removed by "stop".
set -euo pipefail
cmd=${1:?start or stop}
dir=${2:?data directory}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "pg-cluster: PostgreSQL server binaries not found; install the Debian package 'postgresql'" >&2
  exit 1
fi
as_user=()
if [ "$(id -u)" = 0 ]; then
  as_user=(runuser -u postgres --)
fi
case "$cmd" in
start)
  port=${3:?port}
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
  "${as_user[@]}" "$bindir/initdb" -D "$dir/data" -U steward --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  "${as_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=256MB -c work_mem=64MB" \
    start >"$dir/pg_ctl.log" 2>&1 || { cat "$dir/server.log" >&2; exit 1; }
  echo "postgres://steward@127.0.0.1:$port/postgres?sslmode=disable"
  ;;
stop)
  if [ -d "$dir/data" ]; then
    "${as_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start DIR PORT | stop DIR" >&2
  exit 2
  ;;
esac

#!/usr/bin/env bash
# Checks what installer/build.sh put in dist/ (make dist-verify runs it; CI
# runs it after make dist):
#  1. checksums and Authenticode signatures (the exe, the MSI, the exe inside the MSI);
#  2. the MSI's tables (msiinfo) and the .debs' units against installer/service
#     (go test ./installer/packaging with STEWARD_DIST set);
#  3. as root: installs both .debs with dpkg -i, checks files, accounts and
#     units, then walks docs/install-practice.md and docs/install-collector.md on
#     a synthetic practice (init, check, enrol, preview, first submission), and
#     purges both, checking nothing is left.
# Needs: osslsigncode, msitools (msiinfo, msiextract), dpkg; root for step 3.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
DIST=${DIST:-dist}
PKG=${STEWARD_PKG:-out/pkg}
start=$(date +%s)
say() { printf 'ci-check: %s\n' "$*"; }
fail() { printf 'ci-check: FAIL: %s\n' "$*" >&2; exit 1; }

missing=()
for t in osslsigncode msiinfo msiextract dpkg-deb; do command -v "$t" >/dev/null || missing+=("$t"); done
[ ${#missing[@]} -eq 0 ] || fail "missing ${missing[*]} (apt-get install osslsigncode msitools)"
[ -f "$PKG/build.env" ] || fail "no $PKG/build.env: run make dist first"
# shellcheck disable=SC1091
. "$PKG/build.env"
msi=$DIST/steward-agent-$DEB_VERSION-x64.msi
agent_deb=$DIST/steward-agent_${DEB_VERSION}_amd64.deb
collector_deb=$DIST/steward-collector_${DEB_VERSION}_amd64.deb

# --- 1. checksums and signatures ---------------------------------------------
(cd "$DIST" && sha256sum --check --quiet SHA256SUMS) || fail "SHA256SUMS does not match dist/"
say "SHA256SUMS ok"
verify() { # verify FILE
  local out
  if ! out=$(osslsigncode verify -CAfile "$SIGN_CERT" -in "$1" 2>&1) || ! grep -q '^Signature verification: ok' <<<"$out"; then
    printf '%s\n' "$out" >&2
    fail "signature of $1 does not verify"
  fi
  say "signature ok: $1 ($(grep -m1 'Subject:' <<<"$out" | sed 's/^[[:space:]]*//'))"
}
verify "$DIST/steward-agent.exe"
verify "$msi"
tmp=$(mktemp -d)
collector_pid=
installed=
cleanup() {
  if [ -n "$collector_pid" ]; then kill "$collector_pid" 2>/dev/null || true; fi
  # A failed check purges what it installed, so the next run starts clean.
  if [ -n "$installed" ]; then dpkg --purge steward-agent steward-collector >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
(cd "$tmp" && msiextract "$OLDPWD/$msi" >/dev/null)
inner=$(find "$tmp" -name steward-agent.exe | head -1)
[ -n "$inner" ] || fail "the MSI holds no steward-agent.exe"
verify "$inner"
cmp -s "$inner" "$DIST/steward-agent.exe" || fail "the MSI's exe is not dist/steward-agent.exe"
rm -rf "${tmp:?}"/*

# --- 2. MSI tables and .deb units against installer/service ------------------
for t in ServiceInstall ServiceControl Upgrade CustomAction Registry; do
  say "MSI table $t:"; msiinfo export "$msi" "$t" | tail -n +4 | sed 's/^/    /'
done
STEWARD_DIST=$(cd "$DIST" && pwd) STEWARD_PKG_DIR=$(cd "$PKG" && pwd) \
  "$GO" test -count=1 -run 'TestBuilt|TestMSI|TestCommitted|TestDeb' ./installer/packaging/
say "MSI and .deb contents agree with installer/service"

# --- 3. install, use and purge the .debs --------------------------------------
if [ "$(id -u)" != 0 ]; then
  say "SKIP install test: needs root (dpkg -i)"
  exit 0
fi
for p in steward-agent steward-collector; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
    fail "$p is already installed on this machine: this test installs and purges it; remove it first"
  fi
done
as() { local u=$1; shift; runuser -u "$u" -- "$@"; }
cfg=/etc/steward/agent.yaml ccfg=/etc/steward/collector.yaml

installed=1
dpkg -i "$agent_deb" "$collector_deb" >/dev/null
say "installed $(dpkg-query -W -f='${Package} ${Version}, ' steward-agent steward-collector)"
for spec in "steward-agent steward /var/lib/steward" "steward-collector steward-collector /var/lib/steward-collector"; do
  read -r name user state <<<"$spec"
  [ -x "/usr/bin/$name" ] || fail "no /usr/bin/$name"
  cmp -s "/lib/systemd/system/$name.service" "installer/linux/$name.service" || fail "$name.service is not installer/linux's"
  getent passwd "$user" >/dev/null || fail "no account $user"
  uid=$(id -u "$user")
  [ "$uid" -lt 1000 ] || fail "$user is not a system account (uid $uid)"
  [ "$(getent passwd "$user" | cut -d: -f7)" = /usr/sbin/nologin ] || fail "$user can log in"
  [ "$(stat -c '%U:%G %a' "$state")" = "$user:$user 750" ] || fail "$state is $(stat -c '%U:%G %a' "$state")"
  [ -L "/etc/systemd/system/multi-user.target.wants/$name.service" ] || fail "$name.service is not enabled"
  if [ -d /run/systemd/system ]; then
    ! systemctl is-active --quiet "$name" || fail "$name was started by the package"
  fi
  if command -v systemd-analyze >/dev/null && systemd-analyze verify --man=no "/lib/systemd/system/$name.service" 2>"$tmp/verify"; then
    say "systemd-analyze verify $name.service: ok"
  else
    say "systemd-analyze verify $name.service not conclusive here (no systemd-analyze, or no running systemd in this container): $(head -c 300 "$tmp/verify" 2>/dev/null | tr '\n' ' ')"
  fi
  say "$name: binary, unit, account $user (uid $uid), $state, enabled and not started"
done
grep -qx /etc/steward/agent.yaml.example /var/lib/dpkg/info/steward-agent.conffiles || fail "agent.yaml.example is not a conffile"
[ ! -e "$cfg" ] && [ ! -e "$ccfg" ] || fail "a package created a config"
/usr/bin/steward-agent version | grep -qF "$VERSION" || fail "steward-agent version is not $VERSION"

# The collector, as docs/install-collector.md sets it up (SQLite store).
port=$(( 20000 + RANDOM % 20000 ))
sed -e "s/^listen: .*/listen: \"127.0.0.1:$port\"/" /etc/steward/collector.yaml.example >"$ccfg"
chgrp steward-collector "$ccfg" && chmod 0640 "$ccfg"
as steward-collector steward-collector serve --config "$ccfg" --check
code=$(as steward-collector steward-collector practice add --ods Y01234 --name "CI synthetic practice" --config "$ccfg" |
  awk 'prev ~ /One-time enrolment code/ && NF==1 {print $1; exit} {if (NF) prev=$0}')
[ -n "$code" ] || fail "practice add printed no enrolment code"
# setpriv execs the collector itself, so $! is the process to stop.
setpriv --reuid=steward-collector --regid=steward-collector --init-groups \
  steward-collector serve --config "$ccfg" >"$tmp/collector.log" 2>&1 &
collector_pid=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
kill -0 "$collector_pid" 2>/dev/null || { cat "$tmp/collector.log" >&2; fail "the collector did not start"; }

# A synthetic practice database the agent's login may only read.
"$GO" build -o "$tmp/steward" ./cmd/steward
last_month_end=$(date -d "$(date +%Y-%m-01) -1 day" +%F)
"$tmp/steward" synth --patients 300 --start 2022-01-01 --end "$last_month_end" --db "sqlite:/var/lib/steward/practice.db" >/dev/null
chown root:steward /var/lib/steward/practice.db && chmod 0640 /var/lib/steward/practice.db

# The agent, step by step as docs/install-practice.md (Linux) says.
steward-agent init --config "$cfg" --practice Y01234 --data-dir /var/lib/steward >/dev/null
sed -i -e 's#^  url: sqlite:.*#  url: sqlite:/var/lib/steward/practice.db#' \
  -e "s#^  url: https://steward.icb.example#  url: http://127.0.0.1:$port#" "$cfg"
chgrp steward "$cfg" && chmod 0640 "$cfg"
as steward steward-agent check --config "$cfg" --offline
as steward steward-agent check --config "$cfg"
as steward steward-agent enrol --config "$cfg" --code "$code"
as steward steward-agent preview --config "$cfg" >"$tmp/preview.json"
grep -q '"practice"' "$tmp/preview.json" || fail "preview printed no results document"
if [ -d /run/systemd/system ]; then
  systemctl start steward-agent
  for _ in $(seq 60); do grep -q "$(date +%Y)" <(as steward steward-agent status --config "$cfg" | grep '^last delivery') && break; sleep 2; done
  systemctl stop steward-agent
else
  say "no running systemd here: running one cycle as the service account instead of 'steward-agent start'"
  as steward steward-agent once --config "$cfg" | tee "$tmp/once"
  grep -q 'delivered [1-9]' "$tmp/once" || fail "the first cycle delivered nothing"
fi
as steward steward-agent status --config "$cfg"
as steward-collector steward-collector practice list --config "$ccfg" | tee "$tmp/list"
grep -q "Y01234.*$VERSION" "$tmp/list" || fail "the collector has not heard from the agent"
kill "$collector_pid"; wait "$collector_pid" 2>/dev/null || true; collector_pid=

# The read-only PostgreSQL login of docs/install-practice.md, on the
# throwaway cluster of .ci/with-postgres.sh (make dist-verify sets it up).
if [ -n "${STEWARD_TEST_PG:-}" ] && command -v psql >/dev/null; then
  server=${STEWARD_TEST_PG%%\?*}; server=${server%/*}; server=${server#postgres://*@}
  admin_url=${STEWARD_TEST_PG%%\?*}; admin_url=${admin_url%/*}/steward_ci_practice?sslmode=disable
  reader_url="postgres://steward_reader:ci-only-password@$server/steward_ci_practice?sslmode=disable"
  psql -qX -v ON_ERROR_STOP=1 "$STEWARD_TEST_PG" -c "DROP DATABASE IF EXISTS steward_ci_practice" \
    -c "DROP ROLE IF EXISTS steward_reader" -c "CREATE DATABASE steward_ci_practice" >/dev/null
  "$tmp/steward" synth --patients 300 --start 2022-01-01 --end "$last_month_end" --db "$admin_url" >/dev/null
  # Exactly the statements of the guide.
  psql -qX -v ON_ERROR_STOP=1 "$admin_url" >/dev/null <<'SQL'
CREATE ROLE steward_reader LOGIN PASSWORD 'ci-only-password';
ALTER ROLE steward_reader SET default_transaction_read_only = on;
REVOKE ALL ON DATABASE steward_ci_practice FROM PUBLIC;
GRANT CONNECT ON DATABASE steward_ci_practice TO steward_reader;
GRANT USAGE ON SCHEMA public TO steward_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO steward_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO steward_reader;
SQL
  printf '%s\n' "$reader_url" >/etc/steward/agent-database-url
  chgrp steward /etc/steward/agent-database-url && chmod 0640 /etc/steward/agent-database-url
  sed -e 's#^  url: sqlite:.*#  url_file: /etc/steward/agent-database-url#' "$cfg" >"$tmp/agent-pg.yaml"
  install -m 0640 -g steward "$tmp/agent-pg.yaml" /etc/steward/agent-pg.yaml
  as steward steward-agent check --config /etc/steward/agent-pg.yaml --offline
  table=$(psql -qXAt "$reader_url" -c "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1 LIMIT 1")
  [ "$(psql -qXAt "$reader_url" -c 'SHOW default_transaction_read_only')" = on ] || fail "the reader's sessions are not read-only"
  for sql in "CREATE TABLE steward_probe (i int)" "DELETE FROM $table" "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; DELETE FROM $table"; do
    if psql -qX "$reader_url" -c "$sql" >/dev/null 2>&1; then fail "the read-only login could run: $sql"; fi
  done
  say "PostgreSQL: steward-agent check passed with the guide's read-only login, which cannot write"
  rm -f /etc/steward/agent-pg.yaml
  psql -qX "$STEWARD_TEST_PG" -c "DROP DATABASE steward_ci_practice" -c "DROP ROLE steward_reader" >/dev/null
else
  say "SKIP PostgreSQL read-only login: no STEWARD_TEST_PG (make dist-verify provides one when PostgreSQL is installed)"
fi

# Remove keeps the practice's config and data; purge removes everything.
dpkg -r steward-agent steward-collector >/dev/null
[ -f "$cfg" ] && [ -f /var/lib/steward/practice.key ] && getent passwd steward >/dev/null ||
  fail "dpkg -r removed the config, the practice key or the account"
say "dpkg -r kept $cfg, the practice key and the account"
dpkg --purge steward-agent steward-collector >/dev/null
installed=
left=()
for f in /usr/bin/steward-agent /usr/bin/steward-collector /lib/systemd/system/steward-agent.service \
  /lib/systemd/system/steward-collector.service /etc/steward /var/lib/steward /var/lib/steward-collector \
  /etc/systemd/system/multi-user.target.wants/steward-agent.service \
  /etc/systemd/system/multi-user.target.wants/steward-collector.service \
  /etc/systemd/system/steward-agent.service /etc/systemd/system/steward-collector.service; do
  if [ -e "$f" ] || [ -L "$f" ]; then left+=("$f"); fi
done
for a in steward steward-collector; do
  getent passwd "$a" >/dev/null && left+=("user $a")
  getent group "$a" >/dev/null && left+=("group $a")
done
[ ${#left[@]} -eq 0 ] || fail "purge left: ${left[*]}"
say "purged cleanly: no files, units, users or groups left"
say "all checks passed in $(( $(date +%s) - start ))s"

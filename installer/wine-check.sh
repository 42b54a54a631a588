#!/usr/bin/env bash
# Runs the Windows agent for real under Wine (make windows-check; CI runs it
# after make dist-verify), in a throwaway Wine prefix, with what make dist built:
#  1. builds the test-only ProcessPrng shim (installer/wine/processprng.c: Go
#     1.22+ needs it and Wine 8 lacks it) into the prefix, never into dist/;
#  2. installs the signed MSI silently; shows the service as the service
#     manager registered it; configures and enrols the agent with a Linux
#     collector on loopback; starts the service, waits for its deliveries,
#     stops it; the service's Event Log entries are read back from Wine's
#     eventlog debug channel, the MSI's from its /l*v log;
#  3. upgrades to a newer MSI (built here with a higher VERSION) with a queued
#     submission in the outbox: config, key, outbox and data are kept, the
#     new version starts and delivers it; uninstalls: service and program
#     files go, configuration and data stay;
#  4. runs the `steward-agent install` fallback (best-effort steps warn);
#  5. compares steward.exe run, steward.exe search test (the MedSIP fixtures)
#     and steward-agent.exe preview with the Linux binaries' output.
# What Wine cannot show is in docs/install-practice.md ("Checked under Wine").
# Needs: wine, wine64, gcc-mingw-w64-x86-64-win32, msitools; make dist first.
# STEWARD_WINE_KEEP=1 keeps the prefix and logs for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
DIST=${DIST:-dist}
PKG=${STEWARD_PKG:-out/pkg}
t0=$(date +%s)
say() { printf 'windows-check: [%3ss] %s\n' "$(($(date +%s) - t0))" "$*"; }
fail() {
  printf 'windows-check: FAIL: %s\n' "$*" >&2
  if [ -n "${tmp:-}" ] && [ -s "$tmp/collector.log" ]; then
    printf 'windows-check: the collector'"'"'s last lines:\n' >&2
    tail -15 "$tmp/collector.log" | sed 's/^/    /' >&2
  fi
  exit 1
}
indent() { sed -e 's/\r$//' -e 's/^/    /'; }

missing=()
command -v wine >/dev/null || missing+=(wine)
[ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null || missing+=(wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=(gcc-mingw-w64-x86-64-win32)
command -v msiinfo >/dev/null || missing+=(msitools)
[ ${#missing[@]} -eq 0 ] || fail "missing ${missing[*]}: apt-get install ${missing[*]}"
[ -f "$PKG/build.env" ] || fail "no $PKG/build.env: run make dist first"
# shellcheck disable=SC1091
. "$PKG/build.env"
msi1=$DIST/steward-agent-$DEB_VERSION-x64.msi
for f in "$msi1" "$DIST/steward-agent.exe" "$DIST/windows-amd64/steward.exe" "$DIST/linux-amd64/steward" \
  "$DIST/linux-amd64/steward-agent" "$DIST/linux-amd64/steward-collector"; do
  [ -f "$f" ] || fail "no $f: run make dist first"
done
bin=$DIST/linux-amd64

tmp=$(mktemp -d)
collector_pid=
build_pid=
cleanup() {
  set +e
  [ -n "$collector_pid" ] && kill "$collector_pid" 2>/dev/null && wait "$collector_pid" 2>/dev/null
  [ -n "$build_pid" ] && kill "$build_pid" 2>/dev/null
  [ -n "${WINEPREFIX:-}" ] && [ -d "$WINEPREFIX" ] && wineserver -k 2>/dev/null
  if [ -n "${STEWARD_WINE_KEEP:-}" ]; then echo "windows-check: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# --- 1. the newer MSI, the shim, the prefix -----------------------------------
# The upgrade's MSI: the same build with the next version, signed by the
# same certificate when make dist used a throwaway one. Built in the
# background while Wine boots; wixl wants a relative PKG.
IFS=. read -r vmaj vmin vpatch <<<"$MSI_VERSION"
VERSION2=v$vmaj.$vmin.$((vpatch + 1))
sign_env=()
case $SIGN_CERT in */throwaway-cert.pem)
  sign_env=(STEWARD_SIGN_CERT="$SIGN_CERT" STEWARD_SIGN_KEY="${SIGN_CERT%cert.pem}key.pem") ;;
esac
rm -rf out/wine
env "${sign_env[@]}" VERSION="$VERSION2" STEWARD_MSI_ONLY=1 STEWARD_PKG=out/wine/pkg DIST=out/wine/dist GO="$GO" \
  ./installer/build.sh >"$tmp/build2.log" 2>&1 &
build_pid=$!

# The shim goes into the prefix only. Nothing Steward ships may hold it.
x86_64-w64-mingw32-gcc -shared -O2 -s -Wall -Werror -o "$tmp/bcryptprimitives.dll" installer/wine/processprng.c -ladvapi32
if msiinfo export "$msi1" File | grep -qi bcryptprimitives || find "$DIST" "$PKG" -iname 'bcryptprimitives*' | grep -q .; then
  fail "the test-only ProcessPrng shim is in $DIST or $PKG: it must never be shipped"
fi
say "built the test-only ProcessPrng shim (not in $DIST, not in the MSI)"

# Every Wine command is bounded, so a hung one fails the check instead of CI.
wine_bin=$(command -v wine)
wine() { timeout 180 "$wine_bin" "$@"; }
unset DISPLAY WAYLAND_DISPLAY
export WINEPREFIX=$tmp/prefix WINEARCH=win64 WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
wine --version >/dev/null
wine wineboot --init >"$tmp/wineboot.log" 2>&1 || { indent <"$tmp/wineboot.log"; fail "wineboot --init"; }
# Services created in the session that made the prefix stay invisible to
# that session's service manager: start a new one.
timeout 120 wineserver -w || wineserver -k
cp "$tmp/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"
# One wineserver for the whole run; its service manager and every service
# it starts print Wine's "eventlog" debug channel (what ReportEvent
# receives: the agent's Event Log entries) to services.log.
wineserver -p
WINEDEBUG=-all,+eventlog wine wineboot >"$tmp/services.log" 2>&1
say "Wine prefix ready: $(wine --version), shim in C:\\windows\\system32"
events() { # the agent's Event Log entries so far, as "level: message"
  sed -n -e 's/^[0-9a-f]*:\(trace\|warn\|err\):eventlog:ReportEventW L"\(.*\)"$/\1: \2/p' "$tmp/services.log" |
    sed -e 's/^trace:/info:/' -e 's/^err:/error:/' -e 's/\\\\/\\/g'
}
wait_for() { # wait_for SECONDS WHAT COMMAND...: poll until COMMAND succeeds
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  fail "no $what after ${secs}s"
}

# --- 2. the collector on loopback, the practice -------------------------------
port=$((20000 + RANDOM % 20000))
ccfg=$tmp/collector.yaml
"$GO" run ./installer/cmd/genpkg configs "$tmp/configs" >/dev/null
sed -e "s/^listen: .*/listen: \"127.0.0.1:$port\"/" -e "s#^storage: .*#storage: \"sqlite:$tmp/collector.db\"#" -e "s#^receipt_key: .*#receipt_key: $tmp/receipt.key#" \
  "$tmp/configs/linux/collector.yaml.example" >"$ccfg"
code=$("$bin/steward-collector" practice add --ods Y01234 --name "Wine practice" --config "$ccfg" |
  awk 'prev ~ /One-time enrolment code/ && NF==1 {print $1; exit} {if (NF) prev=$0}')
[ -n "$code" ] || fail "practice add printed no enrolment code"
"$bin/steward-collector" serve --config "$ccfg" >"$tmp/collector.log" 2>&1 &
collector_pid=$!
wait_for 10 "collector on 127.0.0.1:$port" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
submissions() { grep -c 'msg=submission practice=Y01234 .*duplicate=false' "$tmp/collector.log" || true; }
heartbeat_from() { # the collector's last heartbeat from Y01234 came from version $1
  "$bin/steward-collector" practice list --config "$ccfg" |
    grep -Eq "^Y01234 .*[0-9a-f]{32} +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} +$1\$"
}
say "collector $("$bin/steward-collector" version) on 127.0.0.1:$port, practice Y01234 added"

# A synthetic practice up to last month end, outside the agent's folders
# (like a reporting database), written by the Linux steward.
last_month_end=$(date -d "$(date +%Y-%m-01) -1 day" +%F)
mkdir -p "$WINEPREFIX/drive_c/practice"
"$bin/steward" synth --patients 300 --start 2022-01-01 --end "$last_month_end" \
  --db "sqlite:$WINEPREFIX/drive_c/practice/practice.db" >/dev/null

# --- 3. install, configure, start, deliver, stop -------------------------------
PD=$WINEPREFIX/drive_c/ProgramData/Steward
agent='C:\Program Files\Steward\steward-agent.exe'
cfg='C:\ProgramData\Steward\agent.yaml'
msilog() { # msilog LOG: the steps that matter, as Wine's msi ran them
  grep -E 'Action ended .*: (StopServices|DeleteServices|RemoveFiles|RemoveData|LockConfigFolder|GrantDataFolder|InstallServices|SetRecovery|INSTALL)\. Return' \
    "$WINEPREFIX/drive_c/$1" | tail -n "${2:-6}" | uniq | indent
}
msi_do() { # msi_do LOG ARGS...: run msiexec silently with a verbose log
  local log=$1
  shift
  say "msiexec $* /qn /l*v C:\\$log"
  if ! wine msiexec "$@" /qn /l*v "C:\\$log" 2>&1 | indent; then
    tail -40 "$WINEPREFIX/drive_c/$log" | indent
    fail "msiexec $*"
  fi
  grep -q 'Action ended .*: INSTALL\. Return value 1\.' "$WINEPREFIX/drive_c/$log" || {
    tail -40 "$WINEPREFIX/drive_c/$log" | indent
    fail "msiexec $*: the installation did not complete (C:\\$log)"
  }
}
registration() { wine reg query 'HKLM\System\CurrentControlSet\Services\steward-agent' 2>/dev/null; }

msi_do install-1.log /i "$msi1"
msilog install-1.log
say "sc query steward-agent (the service manager's view):"
wine sc query steward-agent | indent
say "its registration (ImagePath, account, start type):"
registration | grep -E 'ImagePath|ObjectName|Start|DisplayName' | indent
[ "$(wine "$agent" version | tr -d '\r')" = "steward-agent $VERSION" ] || fail "the installed agent is not $VERSION"

say "init, check, enrol and preview, as docs/install-practice.md says (sqlite practice, collector on loopback)"
wine "$agent" init --config "$cfg" --practice Y01234 | indent
sed -i -e 's#^  url: sqlite:.*#  url: sqlite:C:\\practice\\practice.db#' \
  -e "s#^  url: https://steward.icb.example#  url: http://127.0.0.1:$port#" "$PD/agent.yaml"
wine "$agent" check --config "$cfg" | indent
wine "$agent" enrol --config "$cfg" --code "$code" | indent
wine "$agent" preview --config "$cfg" >"$tmp/preview-wine.json"

say "net start steward-agent"
wine net start steward-agent | indent
# The loop's first cycle delivers the months due, then sends a heartbeat.
wait_for 120 "heartbeat from $VERSION at the collector after the first cycle" heartbeat_from "$VERSION"
wine sc query steward-agent | grep -q 'RUNNING' || fail "the service is not running"
say "net stop steward-agent"
wine net stop steward-agent | indent
wait_for 30 "'steward-agent stopped' in the Event Log" grep -q 'ReportEventW L"steward-agent stopped"' "$tmp/services.log"
wine sc query steward-agent | grep -q 'STOPPED' || fail "the service did not stop"
delivered=$(submissions)
say "the service's Event Log entries (Wine's eventlog channel):"
events | indent
seen=$(events | wc -l)
say "the collector received $delivered submissions; practice list:"
"$bin/steward-collector" practice list --config "$ccfg" | indent
[ "$delivered" -gt 0 ] || fail "nothing was delivered"

# --- 4. upgrade with a queued submission, then uninstall -----------------------
# A month the catch-up window did not reach, queued by `once`, which then
# dies before delivering it (the agent's crash-injection hook, checkpoint 3
# = after-queue): it waits in the outbox across the upgrade.
old_month=$(date -d "$(date +%Y-%m-01) -18 months -1 day" +%F)
STEWARD_AGENT_KILL_AT=3 wine "$agent" once --config "$cfg" --as-of "$old_month" >"$tmp/once.log" 2>&1 || true
# An outbox file is AS-OF_PACK_CREATED_SUBMISSION.json.
queued=$(find "$PD/data/outbox" -name "${old_month}_*.json" -printf '%f\n' | sed -n 's/.*_\([0-9a-f-]*\)\.json$/\1/p')
[ -n "$queued" ] || {
  indent <"$tmp/once.log"
  fail "nothing was queued in the outbox for $old_month"
}
say "queued $old_month (submission $queued) and stopped before delivering it: $(find "$PD/data/outbox" -type f | wc -l) file(s) in the outbox"
(cd "$PD" && sha256sum agent.yaml data/practice.key data/sent/*) >"$tmp/kept-before"

wait "$build_pid" || { indent <"$tmp/build2.log"; fail "building the newer MSI"; }
build_pid=
# shellcheck disable=SC1091
VERSION2=$(. out/wine/pkg/build.env && echo "$VERSION")
msi2=$(ls out/wine/dist/steward-agent-*-x64.msi)
msi_do upgrade.log /i "$msi2"
msilog upgrade.log 8
[ "$(wine "$agent" version | tr -d '\r')" = "steward-agent $VERSION2" ] || fail "the upgrade did not install $VERSION2"
(cd "$PD" && sha256sum --check --quiet "$tmp/kept-before") || fail "the upgrade changed the config, the key or the sent documents"
say "the upgrade kept agent.yaml, practice.key and the $(($(wc -l <"$tmp/kept-before") - 2)) sent documents (sha256 unchanged)"
# Configured, so the upgrade started the new version: it delivers the
# outbox it kept and says hello with its version.
wait_for 60 "delivery of the kept outbox by $VERSION2" grep -q "msg=submission practice=Y01234 idempotency_key=$queued .*as_of=$old_month .*duplicate=false" "$tmp/collector.log"
wait_for 60 "heartbeat from $VERSION2 at the collector" heartbeat_from "$VERSION2"
[ "$(submissions)" -eq $((delivered + 1)) ] || fail "after the upgrade the collector got $(($(submissions) - delivered)) new submissions, want 1 (the queued month): months already sent were sent again"
say "$VERSION2 delivered the kept $old_month ($queued) and sent nothing twice; practice list:"
"$bin/steward-collector" practice list --config "$ccfg" | indent
say "net stop steward-agent"
wine net stop steward-agent | indent
wait_for 30 "a second 'steward-agent stopped'" bash -c "[ \$(grep -c 'ReportEventW L\"steward-agent stopped\"' '$tmp/services.log') -ge 2 ]"
say "the Event Log entries of $VERSION2, started by the upgrade:"
events | tail -n +$((seen + 1)) | indent

msi_do uninstall.log /x "$msi2"
msilog uninstall.log 6
if wine sc query steward-agent 2>/dev/null | grep -q SERVICE_NAME || registration >/dev/null; then
  fail "the service is still registered after uninstall"
fi
[ ! -e "$WINEPREFIX/drive_c/Program Files/Steward/steward-agent.exe" ] || fail "uninstall left steward-agent.exe"
[ -f "$PD/agent.yaml" ] && [ -f "$PD/data/practice.key" ] || fail "uninstall removed the config or the key"
say "uninstalled: service and program files gone; kept $(cd "$PD" && find . -type f | wc -l) files in C:\\ProgramData\\Steward (config, key, state, sent)"

# --- 5. the steward-agent install fallback ---------------------------------------
mkdir -p "$WINEPREFIX/drive_c/steward-portable"
cp "$DIST/steward-agent.exe" "$WINEPREFIX/drive_c/steward-portable/"
portable='C:\steward-portable\steward-agent.exe'
say "steward-agent install (the fallback without the MSI)"
wine "$portable" install --config "$cfg" 2>&1 | indent
registration | grep -q 'steward-portable' || fail "steward-agent install registered no service"
wine "$portable" start --config "$cfg" | indent
wait_for 30 "a third 'steward-agent running'" bash -c "[ \$(grep -c 'ReportEventW L\"steward-agent running' '$tmp/services.log') -ge 3 ]"
wine "$portable" stop --config "$cfg" | indent
wine "$portable" uninstall --config "$cfg" | indent
! registration >/dev/null || fail "steward-agent uninstall left the service"

# --- 6. the same figures as on Linux -------------------------------------------
# Byte for byte, except what differs between any two runs: JSON's
# generated_at and duration_ms, and search test's timings.
stable() { sed -E -e 's/"generated_at": "[^"]*"/"generated_at": "…"/' -e 's/"duration_ms": [0-9.]+/"duration_ms": …/'; }
same() { # same WHAT LINUX WINE
  if ! cmp -s "$2" "$3"; then
    diff -u "$2" "$3" | head -40 | indent
    fail "$1 differs between Linux and Wine"
  fi
  say "identical on Linux and Windows: $1 ($(wc -l <"$2") lines)"
}
# From the pack's folder: the fixture names its search relative to itself,
# and both print the same relative path.
win_steward=$PWD/$DIST/windows-amd64/steward.exe
(cd searches/packs/medsip && "$OLDPWD/$bin/steward" search test medsip.test.yaml) >"$tmp/st-linux" 2>&1 || true
(cd searches/packs/medsip && wine "$win_steward" search test medsip.test.yaml) >"$tmp/st-wine" 2>&1 || true
for f in st-linux st-wine; do sed -E 's/; [0-9][0-9.]*(ns|µs|us|ms|s|m[0-9.]+s)(\)$|; )/\2/' "$tmp/$f" >"$tmp/$f.norm"; done
grep -q ' passed, 0 failed' "$tmp/st-linux.norm" || { indent <"$tmp/st-linux"; fail "the MedSIP fixtures fail on Linux"; }
same "steward search test (the MedSIP fixtures on eval and every SQLite layout)" "$tmp/st-linux.norm" "$tmp/st-wine.norm"
tail -1 "$tmp/st-wine.norm" | indent

# synth says how to read the layout it wrote ("read it with --profile tpp
# --profile-param organisation_id=N").
tpp_read=$("$bin/steward" synth --patients 1000 --layout tpp --db "sqlite:$WINEPREFIX/drive_c/practice/tpp.db" | sed -n 's/^read it with //p')
for spec in "practice.db --profile canonical" "tpp.db $tpp_read"; do
  read -r db read <<<"$spec"
  profile=$(sed -n 's/^--profile \([a-z]*\).*/\1/p' <<<"$read")
  for format in json table; do
    # shellcheck disable=SC2206 # read holds several flags
    args=(run $read --practice Y01234 --as-of 2025-03-31 --baseline 2024-03-31 --format "$format")
    "$bin/steward" "${args[@]}" --db "sqlite:$WINEPREFIX/drive_c/practice/$db" | stable >"$tmp/run-linux"
    wine "$DIST/windows-amd64/steward.exe" "${args[@]}" --db "sqlite:C:\\practice\\$db" | stable >"$tmp/run-wine"
    same "steward run --profile $profile --format $format" "$tmp/run-linux" "$tmp/run-wine"
  done
done

# The Linux agent previews the same practice with the same settings.
sed -e "s#^  url: sqlite:.*#  url: sqlite:$WINEPREFIX/drive_c/practice/practice.db#" \
  -e "s#^data_dir: .*#data_dir: $PD/data#" "$PD/agent.yaml" >"$tmp/agent-linux.yaml"
"$bin/steward-agent" preview --config "$tmp/agent-linux.yaml" | stable >"$tmp/preview-linux"
stable <"$tmp/preview-wine.json" >"$tmp/preview-wine"
same "steward-agent preview (the document the service sends)" "$tmp/preview-linux" "$tmp/preview-wine"

say "all checks passed in $(($(date +%s) - t0))s"

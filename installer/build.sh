#!/usr/bin/env bash
# Builds Steward's packages into dist/ (make dist runs it):
#   steward-agent.exe                     windows/amd64, Authenticode-signed
#   steward-agent-VERSION-x64.msi         wixl (WiX v3), contains the signed exe, signed itself
#   steward-agent_VERSION_amd64.deb       nfpm v2.45.2 (installer/tools)
#   steward-collector_VERSION_amd64.deb
#   SHA256SUMS
# Work files go to out/pkg (never committed). Installs nothing: a missing tool
# stops the build with the package to install.
#
# Signing. Without STEWARD_SIGN_CERT/STEWARD_SIGN_KEY a throwaway self-signed
# certificate is made in out/pkg/sign for this build only (CI verifies with it).
# A release signs with the real code-signing certificate and a timestamp:
#   STEWARD_SIGN_CERT=chain.pem STEWARD_SIGN_KEY=key.pem \
#   STEWARD_SIGN_PASS_FILE=pass.txt STEWARD_TIMESTAMP_URL=http://timestamp.example \
#   make dist
# (see docs/install-practice.md, "For the release manager").
#
# STEWARD_MSI_ONLY=1 builds only the signed exe and the MSI (no Linux
# binaries, .debs or SHA256SUMS): installer/wine-check.sh makes the newer MSI
# it upgrades to this way, with its own VERSION, STEWARD_PKG and DIST.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
DIST=${DIST:-dist}
PKG=${STEWARD_PKG:-out/pkg}

missing=()
command -v wixl >/dev/null || missing+=(wixl)
command -v osslsigncode >/dev/null || missing+=(osslsigncode)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "build.sh: missing ${missing[*]}: install with 'apt-get install ${missing[*]}' (Debian: wixl is the MSI builder from msitools)" >&2
  exit 1
fi

describe=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
commits=$(git rev-list --count HEAD 2>/dev/null || echo 0)
# Sets VERSION (git describe), DEB_VERSION, MSI_VERSION (numeric x.y.z).
eval "$("$GO" run ./installer/cmd/genpkg version "${VERSION:-$describe}" "$commits")"
echo "build.sh: version $VERSION (deb $DEB_VERSION, msi $MSI_VERSION)"

rm -rf "$PKG"
mkdir -p "$PKG/linux-amd64" "$PKG/windows-amd64" "$PKG/sign" "$DIST"
PKG_ABS=$(cd "$PKG" && pwd)
ldflags="-s -w -X github.com/nhs-steward/steward/internal/buildinfo.Version=$VERSION"

# The units the packages ship must be the ones installer/service defines.
"$GO" run ./installer/cmd/genpkg units "$PKG/units"
for u in "$PKG"/units/*.service; do
  if ! cmp -s "$u" "installer/linux/$(basename "$u")"; then
    echo "build.sh: installer/linux/$(basename "$u") is stale: run 'go run ./installer/cmd/genpkg units installer/linux'" >&2
    exit 1
  fi
done
"$GO" run ./installer/cmd/genpkg configs "$PKG/configs"

msi_only=${STEWARD_MSI_ONLY:-}
for c in steward-agent steward-collector; do
  [ -n "$msi_only" ] && break
  CGO_ENABLED=0 GOOS=linux GOARCH=amd64 "$GO" build -trimpath -ldflags "$ldflags" -o "$PKG/linux-amd64/$c" "./cmd/$c"
done
CGO_ENABLED=0 GOOS=windows GOARCH=amd64 "$GO" build -trimpath -ldflags "$ldflags" -o "$PKG/windows-amd64/steward-agent-unsigned.exe" ./cmd/steward-agent

# --- signing -----------------------------------------------------------------
if [ -n "${STEWARD_SIGN_CERT:-}" ] || [ -n "${STEWARD_SIGN_KEY:-}" ]; then
  : "${STEWARD_SIGN_CERT:?set STEWARD_SIGN_CERT too}" "${STEWARD_SIGN_KEY:?set STEWARD_SIGN_KEY too}"
  cert=$STEWARD_SIGN_CERT key=$STEWARD_SIGN_KEY
  echo "build.sh: signing with $cert"
else
  cert=$PKG/sign/throwaway-cert.pem key=$PKG/sign/throwaway-key.pem
  openssl req -x509 -newkey rsa:3072 -sha256 -days 7 -nodes -batch \
    -subj "/CN=Steward throwaway test signing (not for release)" \
    -addext "keyUsage=critical,digitalSignature" -addext "extendedKeyUsage=codeSigning" \
    -keyout "$key" -out "$cert" 2>/dev/null
  chmod 0600 "$key"
  echo "build.sh: signing with a throwaway self-signed certificate ($cert): for CI and testing only"
fi
sign() { # sign IN OUT DESCRIPTION
  local args=(sign -certs "$cert" -key "$key" -h sha256 -n "$3" -i https://github.com/nhs-steward/steward)
  # MsiDigitalSignatureEx: the MSI's signature covers its metadata too.
  case $1 in *.msi) args+=(-add-msi-dse) ;; esac
  [ -n "${STEWARD_SIGN_PASS_FILE:-}" ] && args+=(-readpass "$STEWARD_SIGN_PASS_FILE")
  [ -n "${STEWARD_TIMESTAMP_URL:-}" ] && args+=(-ts "$STEWARD_TIMESTAMP_URL")
  rm -f "$2"
  osslsigncode "${args[@]}" -in "$1" -out "$2" >/dev/null
}

# --- Windows: sign the exe, package it, sign the MSI ----------------------------
exe=$PKG/windows-amd64/steward-agent.exe
sign "$PKG/windows-amd64/steward-agent-unsigned.exe" "$exe" "Steward agent"
msi=steward-agent-$DEB_VERSION-x64.msi
wixl -a x64 -D "Version=$MSI_VERSION" -D "AgentExe=$exe" \
  -D "ConfigExample=$PKG/configs/windows/agent.yaml.example" \
  -o "$PKG/steward-agent-unsigned.msi" installer/windows/steward-agent.wxs
sign "$PKG/steward-agent-unsigned.msi" "$DIST/$msi" "Steward agent installer"
cp "$exe" "$DIST/steward-agent.exe"

# What ci-check.sh, wine-check.sh and a later `make dist-verify` read.
write_env() {
  cat > "$PKG/build.env" <<ENV
VERSION='$VERSION'
DEB_VERSION='$DEB_VERSION'
MSI_VERSION='$MSI_VERSION'
SIGN_CERT='$cert'
ENV
}
if [ -n "$msi_only" ]; then
  write_env
  echo "build.sh: built $DIST/$msi (STEWARD_MSI_ONLY: no Linux packages)"
  exit 0
fi

# --- Linux: .deb packages with nfpm from its own module -----------------------
(cd installer/tools && "$GO" build -o "$PKG_ABS/nfpm" github.com/goreleaser/nfpm/v2/cmd/nfpm)
debs=()
for c in steward-agent steward-collector; do
  deb=${c}_${DEB_VERSION}_amd64.deb
  rm -f "$DIST/$deb"
  STEWARD_PKG=$PKG DEB_VERSION=$DEB_VERSION "$PKG/nfpm" package \
    --config "installer/linux/$c.nfpm.yaml" --packager deb --target "$DIST/$deb" >/dev/null
  debs+=("$deb")
done

(cd "$DIST" && sha256sum steward-agent.exe "$msi" "${debs[@]}" > SHA256SUMS)
write_env
echo "build.sh: built in $DIST:"
(cd "$DIST" && ls -l steward-agent.exe "$msi" "${debs[@]}" SHA256SUMS)

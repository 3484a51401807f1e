#!/usr/bin/env bash
# Installs what the collector/ tests need on a fresh Debian machine, each only when missing:
#   - Debian's `prometheus` + `promtool` 2.53.3 and `prometheus-alertmanager` (alertmanager, amtool)
#     0.28.1: trixie's packages, the versions docker-compose.yml runs (prom/prometheus:v2.53.3,
#     prom/alertmanager:v0.28.1), so the rules and routes are tested on what users run. On bookworm
#     they come from trixie, pinned so that nothing else is taken from it (they need only libc6 >= 2.34).
#     Their system services are stopped and disabled: the tests start their own on 127.0.0.1;
#   - a Go toolchain >= 1.21 (the Collector build fetches the exact Go it needs through the module
#     proxy); without one, Go 1.25.7 is fetched from the Go module proxy (golang.org/toolchain)
#     into the cache, checksum-verified;
#   - the otel-llm Collector, built by collector/build.sh and cached by its manifest's hash
#     (a cold build takes minutes; later runs reuse it).
# Safe to run again: it does nothing that is already done.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${OTEL_LLM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-llm}
log() { echo "collector/setup.sh: $*" >&2; }

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# The versions docker-compose.yml pins (tests/collector/test_compose.py keeps them equal).
prometheus_version=2.53.3
alertmanager_version=0.28.1
version_of() { "$1" --version 2>&1 | sed -n 's/^[a-z]*, version \([0-9.]*\).*/\1/p' | head -1; }
if [ "$(version_of prometheus)" != "$prometheus_version" ] || [ "$(version_of promtool)" != "$prometheus_version" ] \
  || [ "$(version_of prometheus-alertmanager)" != "$alertmanager_version" ] || [ "$(version_of amtool)" != "$alertmanager_version" ]; then
  log "installing prometheus $prometheus_version and prometheus-alertmanager $alertmanager_version"
  target=()
  if ! grep -qs '^VERSION_CODENAME=trixie' /etc/os-release; then
    $sudo tee /etc/apt/sources.list.d/otel-llm-trixie.sources >/dev/null <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' | $sudo tee /etc/apt/preferences.d/otel-llm-trixie >/dev/null
    target=(-t trixie)
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${target[@]}" \
    "prometheus=$prometheus_version*" "promtool=$prometheus_version*" "prometheus-alertmanager=$alertmanager_version*" >/dev/null
  if [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now prometheus.service prometheus-alertmanager.service >/dev/null 2>&1 || true
  fi
fi

# Go: any toolchain >= 1.21 can switch to the version the Collector's go.mod asks for.
go_ok() {
  command -v go >/dev/null 2>&1 || return 1
  local version
  version=$(go env GOVERSION 2>/dev/null | sed -n 's/^go\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
  [ -n "$version" ] || return 1
  set -- $version
  [ "$1" -gt 1 ] || [ "$2" -ge 21 ]
}
if ! go_ok; then
  go_version=go1.25.7
  go_root=$cache/$go_version
  if [ ! -x "$go_root/bin/go" ]; then
    [ "$(uname -sm)" = "Linux x86_64" ] || { log "install Go >= 1.21 (https://go.dev/dl/) and run again"; exit 2; }
    log "fetching $go_version from the Go module proxy"
    mkdir -p "$cache"
    zip=$(mktemp "$cache/go.XXXXXX.zip")
    curl -sSfL -o "$zip" "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-$go_version.linux-amd64.zip"
    echo "43a6a44615934ab4533b010735fc39757accc93f421ffafa67a34f73c5703e7b  $zip" | sha256sum --check --quiet
    unpacked=$(mktemp -d "$cache/go.XXXXXX")
    unzip -q "$zip" -d "$unpacked"
    chmod +x "$unpacked"/golang.org/toolchain@*/bin/* "$unpacked"/golang.org/toolchain@*/pkg/tool/*/*
    rm -rf "$go_root"
    mv "$unpacked"/golang.org/toolchain@* "$go_root"
    rm -rf "$unpacked" "$zip"
  fi
  export PATH="$go_root/bin:$PATH"
fi

binary=$("$here/build.sh")
log "Collector ready: $binary"

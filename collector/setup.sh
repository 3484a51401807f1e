#!/usr/bin/env bash
# Installs what the collector/ tests need on a fresh Debian machine, each only when missing:
#   - Debian's `prometheus` (prometheus, promtool) and `prometheus-alertmanager` (alertmanager, amtool);
#     their system services are stopped and disabled: the tests start their own on 127.0.0.1;
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

missing=()
for program in prometheus promtool; do
  command -v "$program" >/dev/null 2>&1 || { missing+=(prometheus); break; }
done
for program in prometheus-alertmanager amtool; do
  command -v "$program" >/dev/null 2>&1 || { missing+=(prometheus-alertmanager); break; }
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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

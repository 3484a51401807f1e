#!/usr/bin/env bash
# Builds otel-llm's Collector with the OpenTelemetry Collector Builder (ocb) from
# collector/builder-config.yaml and prints the binary's path (the only line on stdout).
#
# The binary is cached outside the repository, keyed by the SHA-256 of the manifest:
#   ${OTEL_LLM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-llm}/otelcol-<sha256>
# An unchanged manifest reuses it (well under a second); a changed one builds anew (several
# minutes on 2 cores). The builder version is read from the manifest's `# builder-version:` line,
# so it is part of the key too. Needs Go >= 1.21 (collector/setup.sh fetches one if missing) and
# the Go module proxy. `build.sh --path` prints the cache path without building (a CI cache key).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
manifest=${OTEL_LLM_BUILDER_CONFIG:-$here/builder-config.yaml}
cache=${OTEL_LLM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-llm}

log() { echo "build.sh: $*" >&2; }

builder_version=$(sed -n 's/^# builder-version: *\(v[0-9][0-9.]*\) *$/\1/p' "$manifest")
if [ -z "$builder_version" ]; then
  log "no '# builder-version: vX.Y.Z' line in $manifest"
  exit 2
fi
sha=$(sha256sum "$manifest" | cut -d' ' -f1)
binary=$cache/otelcol-$sha

if [ "${1:-}" = "--path" ]; then
  echo "$binary"  # where the binary for this manifest is (or will be) cached; builds nothing
  exit 0
fi

if [ -x "$binary" ]; then
  log "cached: manifest unchanged"
  echo "$binary"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  # The toolchain collector/setup.sh fetches when the machine has no Go.
  for go_bin in "$cache"/go1.*/bin; do
    [ -x "$go_bin/go" ] && PATH="$go_bin:$PATH"
  done
fi
if ! command -v go >/dev/null 2>&1; then
  log "Go >= 1.21 is needed to build the Collector: run collector/setup.sh, or see https://go.dev/dl/"
  exit 2
fi

mkdir -p "$cache"
# One build at a time per cache (parallel CI jobs, two terminals).
exec 9>"$cache/.build.lock"
flock 9
if [ -x "$binary" ]; then
  log "cached: built by a concurrent run"
  echo "$binary"
  exit 0
fi

builder_dir=$cache/builder-$builder_version
if [ ! -x "$builder_dir/builder" ]; then
  log "installing go.opentelemetry.io/collector/cmd/builder@$builder_version"
  GOBIN=$builder_dir go install "go.opentelemetry.io/collector/cmd/builder@$builder_version" >&2
fi

work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
sed "s|^\(  output_path:\).*|\1 $work/dist|" "$manifest" >"$work/builder-config.yaml"
log "building $(sed -n 's/^  name: *//p' "$manifest" | head -n1) into $binary (cold builds take minutes)"
start=$(date +%s)
"$builder_dir/builder" --config "$work/builder-config.yaml" >&2
name=$(sed -n 's/^  name: *\([^ ]*\).*/\1/p' "$manifest" | head -n1)
mv "$work/dist/$name" "$binary.tmp"
mv "$binary.tmp" "$binary"
log "built in $(($(date +%s) - start))s"
echo "$binary"

#!/usr/bin/env bash
# Install (once) a Prometheus server binary and promtool for the tests, from Debian's package.
#
# The package is unpacked, not installed: no service, no user, no config is created.
#   ${MESHROLL_CACHE:-$HOME/.cache/meshroll}/prometheus/<debian-version>/usr/bin/{prometheus,promtool}
# A second run finds the binaries there and returns at once without touching apt.
# MESHROLL_PROMETHEUS_BIN=/path/to/prometheus skips all of this (the fixture uses it as is).
# The last line printed is the path of the prometheus binary.
set -euo pipefail

CACHE_ROOT="${MESHROLL_CACHE:-$HOME/.cache/meshroll}/prometheus"
PACKAGE=prometheus

say() { printf '[prometheus] %s\n' "$*" >&2; }

usable() { # $1 = a prometheus binary: it runs and promtool sits next to it
  [[ -x "$1" && -x "$(dirname "$1")/promtool" ]] && "$1" --version >/dev/null 2>&1
}

if [[ -n "${MESHROLL_PROMETHEUS_BIN:-}" ]]; then
  if usable "$MESHROLL_PROMETHEUS_BIN"; then echo "$MESHROLL_PROMETHEUS_BIN"; exit 0; fi
  say "MESHROLL_PROMETHEUS_BIN=$MESHROLL_PROMETHEUS_BIN is not a working prometheus with promtool beside it"
  exit 1
fi

# Already unpacked: the newest cached version wins.
if [[ -d "$CACHE_ROOT" ]]; then
  while IFS= read -r version; do
    candidate="$CACHE_ROOT/$version/usr/bin/prometheus"
    if usable "$candidate"; then echo "$candidate"; exit 0; fi
  done < <(find "$CACHE_ROOT" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%f\n' | sort -rV)
fi

SUDO=""
SANDBOX_OPT=""  # as root, apt would warn that its _apt user cannot write into our folder
if [[ "$(id -u)" == 0 ]]; then SANDBOX_OPT="-o APT::Sandbox::User=root"; fi
if [[ "$(id -u)" != 0 ]] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

candidate_version() {
  apt-cache policy "$PACKAGE" 2>/dev/null | awk '/Candidate:/ { print $2 }'
}

version="$(candidate_version)"
if [[ -z "$version" || "$version" == "(none)" ]]; then
  say "refreshing apt's package lists (apt-get update)"
  $SUDO apt-get update -qq >&2 || { say "apt-get update failed: check the network or the apt sources"; exit 1; }
  version="$(candidate_version)"
fi
if [[ -z "$version" || "$version" == "(none)" ]]; then
  say "apt knows no '$PACKAGE' package: add Debian's main component to the apt sources"
  exit 1
fi

# Unpack into a private folder, then move it into place in one step (parallel runs do not collide).
mkdir -p "$CACHE_ROOT"
work="$(mktemp -d "$CACHE_ROOT/.install.XXXXXX")"
trap 'rm -rf "$work"' EXIT
say "downloading Debian's $PACKAGE $version"
(cd "$work" && apt-get download -q ${SANDBOX_OPT} "$PACKAGE=$version" >&2) || {
  say "apt-get download $PACKAGE=$version failed: check the network, or run 'apt-get update' first"
  exit 1
}
deb="$(find "$work" -maxdepth 1 -name '*.deb' | head -n 1)"
dpkg-deb -x "$deb" "$work/root"
# A folder name without the epoch colon, which some tools dislike in paths.
target="$CACHE_ROOT/${version//:/_}"
if ! usable "$work/root/usr/bin/prometheus"; then
  say "the unpacked package has no working usr/bin/prometheus and usr/bin/promtool"
  exit 1
fi
if [[ ! -d "$target" ]]; then
  mv "$work/root" "$target"
fi
say "installed $("$target/usr/bin/prometheus" --version 2>&1 | head -n 1)"
echo "$target/usr/bin/prometheus"

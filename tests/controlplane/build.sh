#!/usr/bin/env bash
# Build (once) and cache a real Kubernetes control plane for the tests:
#   kube-apiserver  built from the Go module k8s.io/kubernetes at $K8S_VERSION
#   etcd            Debian's etcd-server package, unpacked (no service is installed or started);
#                   built from go.etcd.io/etcd/server/v3 if that package cannot be had
#   helm, kubeconform  optional: `go install`ed; a one-line notice if they cannot be had
#
# Everything lives under ${MESHROLL_CACHE:-$HOME/.cache/meshroll}/controlplane/:
#   <k8s-version>/bin/    the binaries (what the pytest fixture uses)
#   <k8s-version>/build.log   full build output
#   gomod/ gocache/       GOMODCACHE and GOCACHE, so a rebuild downloads and compiles nothing twice
# A second run finds every binary in place and returns in about a second.
# The last line printed is the bin directory.
set -euo pipefail

K8S_VERSION="${MESHROLL_K8S_VERSION:-v1.36.3}"
ETCD_DEBIAN_PACKAGE="etcd-server"                        # Debian bookworm: 3.4.23
ETCD_GO_VERSION="${MESHROLL_ETCD_VERSION:-v3.6.8}"        # if MESHROLL_ETCD_FROM_SOURCE=1, or no Debian package
HELM_VERSION="${MESHROLL_HELM_VERSION:-v3.22.0}"
KUBECONFORM_VERSION="${MESHROLL_KUBECONFORM_VERSION:-v0.8.0}"

CACHE_ROOT="${MESHROLL_CACHE:-$HOME/.cache/meshroll}/controlplane"
VERSION_DIR="$CACHE_ROOT/$K8S_VERSION"
BIN="$VERSION_DIR/bin"
LOG="$VERSION_DIR/build.log"
mkdir -p "$BIN"

GO="${GO:-}"
if [[ -z "$GO" ]]; then
  if command -v go >/dev/null 2>&1; then GO="$(command -v go)"; else GO=/usr/local/go/bin/go; fi
fi

export GOMODCACHE="$CACHE_ROOT/gomod"
export GOCACHE="$CACHE_ROOT/gocache"
export GOTOOLCHAIN=local
export GOFLAGS="-buildvcs=false -mod=mod"
export CGO_ENABLED=0

say() { printf '[controlplane] %s\n' "$*"; }
log() { printf '\n===== %s %s\n' "$(date -u +%FT%TZ)" "$*" >>"$LOG"; }
fail() {
  say "FAILED: $1 (see $LOG)"
  tail -n 30 "$LOG" | sed 's/^/    /' >&2
  exit 1
}
# run CMD... : append its output to the log, quietly
run() { log "$*"; "$@" >>"$LOG" 2>&1; }

# The go.mod of k8s.io/kubernetes requires each staging module at v0.0.0 and replaces it with
# ./staging/src/k8s.io/NAME. Outside that repository each one is the published module v0.N.M.
staging_replaces() { # $1 = path of k8s.io/kubernetes' go.mod, $2 = v0.N.M
  awk -v ver="$2" '
    /^require[ \t]*\(/ { inreq = 1; next }
    inreq && /^\)/ { inreq = 0; next }
    inreq && $1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print "-replace=" $1 "=" $1 "@" ver }
  ' "$1"
}

build_kube_apiserver() {
  local out="$BIN/kube-apiserver"
  if [[ -x "$out" ]] && "$out" --version 2>/dev/null | grep -qx "Kubernetes $K8S_VERSION"; then
    say "kube-apiserver $K8S_VERSION: cached"
    return
  fi
  [[ -x "$GO" ]] || fail "no Go toolchain (looked for 'go' on PATH and /usr/local/go/bin/go)"
  say "kube-apiserver $K8S_VERSION: building from k8s.io/kubernetes (about 4 min on 2 cores the first time)"
  local started=$SECONDS
  local staging="v0.${K8S_VERSION#v1.}"
  local mod="$VERSION_DIR/src/kube-apiserver"
  rm -rf "$mod" && mkdir -p "$mod"
  (
    cd "$mod"
    run "$GO" mod init meshroll.invalid/controlplane || exit 1
    run "$GO" mod edit -go=1.26.0 || exit 1
    local gomod
    gomod="$("$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" 2>>"$LOG" \
      | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
    [[ -f "$gomod" ]] || exit 1
    local -a replaces
    mapfile -t replaces < <(staging_replaces "$gomod" "$staging")
    ((${#replaces[@]} > 10)) || exit 1
    log "replacing ${#replaces[@]} staging modules with $staging"
    run "$GO" mod edit "${replaces[@]}" || exit 1
    # Require the module itself, not `go get PKG@V`: that asks the proxy about every prefix of the
    # package path as a module, which a filtering proxy answers with 403 instead of 404.
    run "$GO" mod edit -require="k8s.io/kubernetes@$K8S_VERSION" || exit 1
    local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
    local ldflags="-s -w"
    local p
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
      ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
    done
    run nice -n 10 "$GO" build -trimpath -ldflags="$ldflags" -o "$out.tmp" \
      k8s.io/kubernetes/cmd/kube-apiserver || exit 1
    mv "$out.tmp" "$out"
  ) || fail "building kube-apiserver $K8S_VERSION"
  say "kube-apiserver $K8S_VERSION: built in $((SECONDS - started))s"
}

etcd_from_debian() {
  local work="$VERSION_DIR/src/etcd-deb"
  rm -rf "$work" && mkdir -p "$work"
  (
    cd "$work"
    # apt-get download + dpkg-deb -x: the binary alone, no service installed or started.
    run apt-get update || exit 1
    run apt-get download "$ETCD_DEBIAN_PACKAGE" || exit 1
    run dpkg-deb -x ./"$ETCD_DEBIAN_PACKAGE"_*.deb root || exit 1
    cp root/usr/bin/etcd "$BIN/etcd.tmp" && mv "$BIN/etcd.tmp" "$BIN/etcd"
  )
}

etcd_from_source() {
  local mod="$VERSION_DIR/src/etcd"
  rm -rf "$mod" && mkdir -p "$mod"
  (
    cd "$mod"
    run "$GO" mod init meshroll.invalid/etcd || exit 1
    run "$GO" mod edit -go=1.26.0 || exit 1
    run "$GO" get "go.etcd.io/etcd/server/v3@$ETCD_GO_VERSION" || exit 1
    run nice -n 10 "$GO" build -trimpath -ldflags="-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3 || exit 1
    mv "$BIN/etcd.tmp" "$BIN/etcd"
  )
}

# Debian's etcd-server (3.4.23) works with this kube-apiserver (tests/integration/test_controlplane.py
# passes with it and with 3.6.8). MESHROLL_ETCD_FROM_SOURCE=1 builds $ETCD_GO_VERSION instead; so
# does a machine where the Debian package cannot be had.
get_etcd() {
  local out="$BIN/etcd"
  if [[ -x "$out" ]] && "$out" --version >/dev/null 2>&1; then
    say "etcd $("$out" --version | sed -n 's/^etcd Version: //p'): cached"
    return
  fi
  local started=$SECONDS
  if [[ "${MESHROLL_ETCD_FROM_SOURCE:-0}" != 1 ]]; then
    say "etcd: unpacking Debian's $ETCD_DEBIAN_PACKAGE (apt-get update, apt-get download)"
    etcd_from_debian || say "notice: Debian's $ETCD_DEBIAN_PACKAGE could not be had; building etcd instead"
  fi
  if [[ ! -x "$out" ]]; then
    say "etcd $ETCD_GO_VERSION: building from go.etcd.io/etcd/server/v3"
    etcd_from_source || fail "building etcd $ETCD_GO_VERSION"
  fi
  say "etcd $("$out" --version | sed -n 's/^etcd Version: //p'): ready in $((SECONDS - started))s"
}

# go_install_optional NAME PACKAGE@VERSION : best effort, never fails the script. Neither tool
# reports its own version when built by `go install`, so a stamp file records what was installed.
go_install_optional() {
  local name="$1" pkg="$2"
  local want="${pkg##*@}" stamp="$BIN/.$name.version"
  if [[ -x "$BIN/$name" && -f "$stamp" && "$(<"$stamp")" == "$pkg" ]]; then
    say "$name $want: cached"
    return
  fi
  local started=$SECONDS
  say "$name $want: go install $pkg"
  rm -f "$stamp"
  if [[ -x "$GO" ]] && log "go install $pkg" \
      && GOBIN="$BIN" GOFLAGS=-buildvcs=false nice -n 10 "$GO" install -trimpath -ldflags="-s -w" "$pkg" >>"$LOG" 2>&1; then
    printf '%s\n' "$pkg" >"$stamp"
    say "$name $want: installed in $((SECONDS - started))s"
  else
    say "notice: $name $want could not be installed (tests that need it will skip; see $LOG)"
  fi
}

: >>"$LOG"
build_kube_apiserver
get_etcd
go_install_optional helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
go_install_optional kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
printf '%s\n' "$K8S_VERSION" >"$VERSION_DIR/VERSION"
echo "$BIN"

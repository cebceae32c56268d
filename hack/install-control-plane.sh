#!/usr/bin/env bash
# Builds pinned kube-apiserver and etcd from the Go module proxy and caches them by version outside the
# working tree. Prints the directory that holds both binaries.
#
# Go comes from hack/install-go.sh (the one on PATH, or a pinned toolchain from the module proxy).
# Skips the build when binaries already exist: in the cache, in $KUBEBUILDER_ASSETS, or at
# $KUBE_APISERVER_BIN / $ETCD_BIN.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
CACHE_ROOT="${SLC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/service-lb-controller}"
OUT="$CACHE_ROOT/control-plane/kube-$KUBE_VERSION-etcd-$ETCD_VERSION"

log() { echo "[install-control-plane] $*" >&2; }

if [[ -n "${KUBE_APISERVER_BIN:-}" && -n "${ETCD_BIN:-}" && -x "$KUBE_APISERVER_BIN" && -x "$ETCD_BIN" ]]; then
  log "using KUBE_APISERVER_BIN and ETCD_BIN"; exit 0
fi
if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/kube-apiserver" && -x "$KUBEBUILDER_ASSETS/etcd" ]]; then
  log "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"; echo "$KUBEBUILDER_ASSETS"; exit 0
fi
if [[ -x "$OUT/kube-apiserver" && -x "$OUT/etcd" ]]; then
  echo "$OUT"; exit 0
fi

# A Go >= 1.26 from PATH, or a pinned, checksum-verified toolchain from the module proxy.
gobin=$("$(dirname "${BASH_SOURCE[0]}")/install-go.sh")
export PATH="$gobin:$PATH"
mkdir -p "$OUT"
# Test processes started in parallel may all miss the cache: one builds, the others wait and reuse it.
exec 9>"$OUT.lock"
flock 9
if [[ -x "$OUT/kube-apiserver" && -x "$OUT/etcd" ]]; then
  echo "$OUT"; exit 0
fi
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

if [[ ! -x "$OUT/kube-apiserver" ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  log "building kube-apiserver $KUBE_VERSION (several minutes on 2 cores)"
  # k8s.io/kubernetes pins its staging modules at v0.0.0 through replace directives that a dependent
  # module does not inherit, so the tools module replaces each one with the matching v0.Y.Z tag.
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  staging_version="v0.${KUBE_VERSION#v1.}"
  minor="${staging_version#v0.}"; minor="${minor%%.*}"
  {
    echo "module slc-kube-tools"
    echo "go 1.24"
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk '{print $1}' | sort -u |
      while read -r m; do echo "replace $m => $m $staging_version"; done
  } >"$work/go.mod"
  printf 'package tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' >"$work/tools.go"
  (cd "$work" && go mod tidy >&2 &&
    go build -pgo=off -trimpath \
      -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
      -o "$OUT/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2)
  mv "$OUT/kube-apiserver.tmp" "$OUT/kube-apiserver"
  rm -rf "$work"; trap - EXIT
fi

if [[ ! -x "$OUT/etcd" ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  log "building etcd $ETCD_VERSION"
  printf 'module slc-etcd-tools\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$work/go.mod"
  printf 'package tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$work/tools.go"
  (cd "$work" && go mod tidy >&2 && go build -trimpath -ldflags "-s -w" -o "$OUT/etcd.tmp" go.etcd.io/etcd/server/v3 >&2)
  mv "$OUT/etcd.tmp" "$OUT/etcd"
  rm -rf "$work"; trap - EXIT
fi

echo "$OUT"

#!/usr/bin/env bash
# Usage: hack/install-tool.sh helm|kustomize
# Builds a pinned helm or kustomize from the Go module proxy (with hack/install-go.sh's Go) and caches it
# by version outside the working tree, like hack/install-control-plane.sh. Prints the binary's path.
# $HELM_BIN / $KUSTOMIZE_BIN, when set to an executable, are used instead and nothing is built.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v4.3.2}"
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.8.2}"
CACHE_ROOT="${SLC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/service-lb-controller}"
HACK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

tool=${1:-}
case "$tool" in
  helm)
    override=${HELM_BIN:-}
    version=$HELM_VERSION
    package=helm.sh/helm/v4/cmd/helm
    # What `helm version` prints; helm's Makefile sets it the same way.
    ldflags="-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
    ;;
  kustomize)
    override=${KUSTOMIZE_BIN:-}
    version=$KUSTOMIZE_VERSION
    package=sigs.k8s.io/kustomize/kustomize/v5
    ldflags="-X sigs.k8s.io/kustomize/api/provenance.version=$KUSTOMIZE_VERSION"
    ;;
  *) echo "usage: $0 helm|kustomize" >&2; exit 2 ;;
esac

log() { echo "[install-tool] $*" >&2; }

if [[ -n $override ]]; then
  [[ -x $override ]] || { log "$override is not an executable file"; exit 1; }
  echo "$override"; exit 0
fi
OUT="$CACHE_ROOT/tools/$tool-$version"
if [[ -x "$OUT/$tool" ]]; then
  echo "$OUT/$tool"; exit 0
fi

gobin=$("$HACK/install-go.sh")
export PATH="$gobin:$PATH"
mkdir -p "$OUT"
# Parallel test processes may all miss the cache: one builds, the others wait and reuse it.
exec 9>"$OUT.lock"
flock 9
if [[ -x "$OUT/$tool" ]]; then
  echo "$OUT/$tool"; exit 0
fi
export GOTOOLCHAIN=local CGO_ENABLED=0
log "building $package@$version with $(go env GOVERSION) (minutes on 2 cores)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# `go install pkg@version` builds with the module's own go.mod and go.sum (checked against the
# checksum database), outside any module of ours.
GOBIN="$work" go install -trimpath -ldflags "-s -w $ldflags" "$package@$version" >&2
mv "$work/$tool" "$OUT/$tool"
echo "$OUT/$tool"

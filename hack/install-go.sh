#!/usr/bin/env bash
# Prints a directory holding a `go` command of version >= 1.26 (what helm v4.3, kube-apiserver v1.36 and
# etcd v3.6 declare in their go.mod): the one on PATH when it is recent enough,
# otherwise a pinned toolchain fetched from the Go module proxy (module golang.org/toolchain) into the
# cache. The download is checked against an h1 hash pinned below, copied from the Go checksum database
# (sum.golang.org, read through the proxy: $GOPROXY/sumdb/sum.golang.org/lookup/golang.org/toolchain@<v>),
# and verified with the same algorithm `go` uses for go.sum (dirhash.Hash1; hack/go-toolchain.ts).
# Pinning means no network trust decision is made at install time, and no signed-note verification is
# needed: a proxy that serves anything else is refused.
set -euo pipefail

GO_MIN_MINOR=26
GO_TOOLCHAIN_VERSION="${GO_TOOLCHAIN_VERSION:-go1.26.11}"
CACHE_ROOT="${SLC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/service-lb-controller}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { echo "[install-go] $*" >&2; }

# A go on PATH whose version is go1.N(.x) with N >= GO_MIN_MINOR (devel builds are taken as recent).
if command -v go >/dev/null; then
  version=$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null || true)
  if [[ $version =~ ^go1\.([0-9]+) && ${BASH_REMATCH[1]} -ge $GO_MIN_MINOR ]] || [[ $version == devel* ]]; then
    GOTOOLCHAIN=local go env GOROOT | sed 's|$|/bin|'; exit 0
  fi
  log "ignoring go on PATH: '${version:-unknown version}' is older than go1.$GO_MIN_MINOR"
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-amd64 ;;
  Linux-aarch64 | Linux-arm64) platform=linux-arm64 ;;
  *) log "no pinned Go toolchain for $(uname -s)-$(uname -m): install Go >= 1.$GO_MIN_MINOR yourself"; exit 1 ;;
esac
module_version="v0.0.1-$GO_TOOLCHAIN_VERSION.$platform"

# h1 hashes of golang.org/toolchain@<module_version>, from sum.golang.org. GO_TOOLCHAIN_H1 is for another
# version (or a test proxy); it must then be taken from the checksum database too.
expected="${GO_TOOLCHAIN_H1:-}"
if [[ -z $expected ]]; then
  case "$module_version" in
    v0.0.1-go1.26.11.linux-amd64) expected='h1:KyINmJ/FQdKRmDYGuTAAXkumyeR2DyUlSNHZj7XaLFg=' ;;
    v0.0.1-go1.26.11.linux-arm64) expected='h1:GFS9FmglLJxMwOSuun3qb8tBjpr8ibzOkt8tBrRLrnk=' ;;
    *) log "no pinned checksum for golang.org/toolchain@$module_version: set GO_TOOLCHAIN_H1"; exit 1 ;;
  esac
fi

OUT="$CACHE_ROOT/go/$GO_TOOLCHAIN_VERSION.$platform"
if [[ -x "$OUT/bin/go" ]]; then
  echo "$OUT/bin"; exit 0
fi

# The first usable proxy of $GOPROXY (comma- or pipe-separated; "direct" and "off" are not proxies).
proxy=https://proxy.golang.org
IFS=',|' read -ra proxies <<<"${GOPROXY:-}"
for p in "${proxies[@]}"; do
  if [[ $p == http://* || $p == https://* ]]; then proxy=${p%/}; break; fi
done

# The project's Node (npm ci brings Node 24), which runs TypeScript as is; a system Node may be older.
node="$ROOT/node_modules/.bin/node"
[[ -x $node ]] || { log "run npm ci first: $node is missing"; exit 1; }

mkdir -p "$CACHE_ROOT/go"
# Several test processes may miss the cache at once: one downloads, the others wait and reuse it.
exec 9>"$OUT.lock"
flock 9
if [[ -x "$OUT/bin/go" ]]; then
  echo "$OUT/bin"; exit 0
fi
log "fetching golang.org/toolchain@$module_version from $proxy"
tmp="$OUT.tmp"
trap 'rm -rf "$tmp"' EXIT
"$node" "$ROOT/hack/go-toolchain.ts" "$proxy/golang.org/toolchain/@v/$module_version.zip" "$expected" "$tmp"
version=$(GOTOOLCHAIN=local "$tmp/bin/go" env GOVERSION)
[[ $version == "$GO_TOOLCHAIN_VERSION" ]] || { log "the unpacked toolchain reports $version"; exit 1; }
mv "$tmp" "$OUT"
trap - EXIT
echo "$OUT/bin"

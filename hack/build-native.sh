#!/bin/sh
# Builds the local provider's TCP data path (src/providers/local/native/tcp_engine.c) into
# build/tcp_engine.node. Node-API only, so one build serves every Node version from 18 on; the headers
# come from the node-api-headers package, so no Node source download is needed.
set -eu
cd "$(dirname "$0")/.."
CC=${CC:-cc}
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "build-native: no C compiler ($CC); install one (Debian: apt-get install gcc) and run npm run build:native" >&2
  exit 1
fi
mkdir -p build
"$CC" -O2 -Wall -Wextra -Werror -fPIC -shared -pthread \
  -I node_modules/node-api-headers/include \
  -o build/tcp_engine.node src/providers/local/native/tcp_engine.c
# The VIP announcer of `service-lb-controller proxy` (src/providers/local/native/announce.c).
"$CC" -O2 -Wall -Wextra -Werror -o build/announce src/providers/local/native/announce.c

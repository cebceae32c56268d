#!/bin/sh
# Builds the local provider's TCP engine with AddressSanitizer and UndefinedBehaviorSanitizer and runs
# the tests that drive it (about a minute); any sanitizer report, or any failing test, fails the run.
# .ci/run runs it on every change. Node itself is not instrumented: the ASan runtime is preloaded.
set -eu
cd "$(dirname "$0")/.."
CC=${CC:-cc}
NODE=node_modules/.bin/node
[ -x "$NODE" ] || NODE=node
libasan=$("$CC" -print-file-name=libasan.so)
if [ ! -f "$libasan" ]; then
  echo "native-sanitize: $CC has no libasan.so (Debian: apt-get install gcc)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# tcp-proxy.ts loads ../../../build/tcp_engine.node from where it lies, so the tests run from a copy of
# the sources whose build/ holds the sanitized engine.
cp -R src test package.json "$work/"
ln -s "$PWD/node_modules" "$work/node_modules"
mkdir "$work/build" "$work/reports"
"$CC" -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
  -Wall -Wextra -Werror -fPIC -shared -pthread -I node_modules/node-api-headers/include \
  -o "$work/build/tcp_engine.node" src/providers/local/native/tcp_engine.c
cd "$work"
status=0
# Leak checking is off: Node's own allocations at exit would drown the engine's. Reports go to the
# output (which node --test passes on from each test file) and to reports/, whichever the runtime picks.
LD_PRELOAD=$libasan \
  ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:log_path=$work/reports/asan" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$work/reports/ubsan" \
  "$NODE" --test --test-reporter=spec --test-concurrency=1 --test-timeout=300000 \
  test/e2e/local-tcp-engine.test.ts test/e2e/local-hostile-input.test.ts test/e2e/local-proxy-workers.test.ts \
  >output 2>&1 || status=$?
cat output
if [ -n "$(ls reports)" ] || grep -Eq 'ERROR: AddressSanitizer|runtime error:' output; then
  cat reports/* >&2 2>/dev/null || true
  echo "native-sanitize: the sanitizers reported errors (above)" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "native-sanitize: tests failed under the sanitizers (exit $status)" >&2
  exit "$status"
fi
echo "native-sanitize: no sanitizer reports" >&2

#!/usr/bin/env bash
# The test suites again under AddressSanitizer and UndefinedBehaviorSanitizer
# (the first error fails the test), in a build of its own; run by .ci/run
# after scripts/test.sh.  Suites: nn, face, stickers, gst (element and
# gst-launch), examples and fuzz (the corpus replayed).  Then, when clang is installed,
# each libFuzzer target for FUZZ_SECONDS (default 60).  docs/contributing.md says more.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh sanitize
SAN_BUILD=${SAN_BUILD:-build-sanitize}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}

# Errors stop the test (halt_on_error, also for UBSan, which would go on);
# leaks are errors too, less tests/lsan.supp (one-time library setup).
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
# The plugin scanner is a plain program: with the registry filled in the test
# process itself, the ASan plugin loads where the runtime already is.
export GST_REGISTRY_FORK=no

[ -f "$SAN_BUILD/build.ninja" ] || meson setup "$SAN_BUILD" -Dbuildtype=debugoptimized \
  -Db_sanitize=address,undefined -Db_lundef=false
meson compile -C "$SAN_BUILD"
export FKP_ASAN_RUNTIME
FKP_ASAN_RUNTIME=$(cc -print-file-name=libasan.so)
# ASan and UBSan make the tests 2-3 times slower: their timeouts too.
meson test -C "$SAN_BUILD" --print-errorlogs --num-processes 2 --timeout-multiplier 3 \
  --wrapper "$PWD/scripts/sanitizer-env.sh" \
  --suite nn --suite face --suite stickers --suite gst --suite examples --suite fuzz "$@"

# The short fuzz run: libFuzzer needs clang; only the fuzz targets are built.
if ! command -v clang >/dev/null; then
  echo "test-sanitizers: clang is not installed, libFuzzer targets not run" >&2
  exit 0
fi
[ -f "$FUZZ_BUILD/build.ninja" ] || CC=clang meson setup "$FUZZ_BUILD" -Dbuildtype=debugoptimized \
  -Dfuzzing=true -Dfuzz-seconds="$FUZZ_SECONDS" -Db_sanitize=address,undefined -Db_lundef=false
meson configure "$FUZZ_BUILD" -Dfuzz-seconds="$FUZZ_SECONDS"
meson compile -C "$FUZZ_BUILD" fuzz-onnx fuzz-stickers fuzz-replay-onnx fuzz-replay-stickers
meson test -C "$FUZZ_BUILD" --no-rebuild --print-errorlogs --num-processes 2 --suite fuzz

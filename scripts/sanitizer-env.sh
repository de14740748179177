#!/usr/bin/env bash
# meson test --wrapper for the sanitizer build (scripts/test-sanitizers.sh):
# runs one test with the ASan runtime preloaded, because some tests run
# programs that are not built with ASan (python3, gst-launch-1.0,
# gst-plugin-scanner) and load the ASan-built plugin or libraries into them;
# the runtime must come first in such a process or it refuses to start.
#
# The GStreamer tests also get whole stacks on every allocation
# (fast_unwind_on_malloc=0): GLib is built without frame pointers, so the
# fast unwinder stops inside it, and the suppressions of its one-time setup
# (tests/lsan.supp) match on the callers.  Only there: it slows malloc a lot.
set -euo pipefail
export LD_PRELOAD="${FKP_ASAN_RUNTIME:?}${LD_PRELOAD:+:$LD_PRELOAD}"
case "$*" in
  */tests/gst/*|*/tests/examples/*) export ASAN_OPTIONS="${ASAN_OPTIONS:-}:fast_unwind_on_malloc=0" ;;
esac
# Tests written in Python: CPython leaves most of its own objects to the
# operating system at exit, which LSan would report; memory errors are still
# caught there and in the gst-launch-1.0 they run.  The element's leaks are
# checked by the C tests (tests/gst/test-*.c), which keep leak detection.
case "$1" in
  */python3*|python3*) export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" ;;
esac
exec "$@"

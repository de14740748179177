#!/usr/bin/env bash
# meson test --wrapper for the sanitizer build (scripts/test-sanitizers.sh):
# runs one test with the ASan runtime preloaded, because some tests run
# programs that are not built with ASan (python3, gst-launch-1.0,
# gst-plugin-scanner) and load the ASan-built plugin or libraries into them;
# the runtime must come first in such a process or it refuses to start.
set -euo pipefail
export LD_PRELOAD="${FKP_ASAN_RUNTIME:?}${LD_PRELOAD:+:$LD_PRELOAD}"
exec "$@"

#!/usr/bin/env bash
# The whole test suite from a clean checkout: dependencies, build, meson test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh test
BUILD=${BUILD:-build}
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD"
# The suite covers the Python bindings (examples/python-meta.py): insist on
# the introspection data, which install-deps.sh test provides.
meson configure "$BUILD" -Dintrospection=enabled
meson compile -C "$BUILD"
meson test -C "$BUILD" --print-errorlogs --num-processes 2 "$@"

#!/usr/bin/env bash
# Installs the Debian packages facekp needs, by what you want to do:
#
#   scripts/install-deps.sh [run] [test] [train] [bench]     (default: run)
#
#   run    build the libraries, the plugin and the tools, and run them
#          (scripts/demo.sh)
#   test   run + what the test suite adds: PyTorch and NumPy (fixture networks
#          built at test time, training tests), ONNX, Pillow, PyGObject
#          (scripts/test.sh)
#   train  test + matplotlib (training plots, docs/training.md)
#   bench  run + Node.js and npm (bench/nn: ONNX Runtime from npm)
#   sanitize  test + clang and its runtime libraries (libFuzzer; the
#          sanitizer suite itself uses gcc's ASan) (scripts/test-sanitizers.sh)
#
# Idempotent: re-running only installs what is missing.
set -euo pipefail

run_packages=(
  # build
  build-essential meson ninja-build pkg-config
  # nn-core
  libglib2.0-dev libopenblas-dev libprotobuf-c-dev protobuf-c-compiler
  # stickers
  libcairo2-dev librsvg2-dev
  # gst-plugin, and what the demo's pipeline decodes and encodes with
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-libav
  # the demo's summary and the examples run on Debian's interpreter
  python3
)
test_packages=(
  python3-torch python3-numpy python3-pil python3-onnx
  python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
)
train_packages=(python3-matplotlib)
sanitize_packages=(clang libclang-rt-14-dev)

packages=()
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(run)
for group in "${groups[@]}"; do
  case "$group" in
    run) packages+=("${run_packages[@]}") ;;
    test) packages+=("${run_packages[@]}" "${test_packages[@]}") ;;
    train) packages+=("${run_packages[@]}" "${test_packages[@]}" "${train_packages[@]}") ;;
    sanitize) packages+=("${run_packages[@]}" "${test_packages[@]}" "${sanitize_packages[@]}") ;;
    bench)
      packages+=("${run_packages[@]}")
      # Node.js comes with some machine images; Debian's only where none is present.
      command -v node >/dev/null 2>&1 || packages+=(nodejs npm) ;;
    *) echo "install-deps: unknown group '$group' (run, test, train, bench, sanitize)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # Each missing package once, in order.
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

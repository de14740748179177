#!/usr/bin/env bash
# Installs the Debian packages facekp needs, by what you want to do:
#
#   scripts/install-deps.sh [run] [test] [train] [bench] [deb]    (default: run)
#
#   run    build the libraries, the plugin and the tools, and run them
#          (scripts/demo.sh)
#   test   run + what the test suite adds: PyTorch and NumPy (fixture networks
#          built at test time, training tests), ONNX, Pillow, PyGObject,
#          GObject introspection (FacekpMeta-1.0.gir/.typelib), the Debian
#          packaging tools the package test builds the .deb files with, and
#          Slurm and MUNGE (the Slurm batch example's one-node cluster)
#          (scripts/test.sh)
#   train  test + matplotlib (training plots, docs/training.md)
#   bench  run + Node.js and npm (bench/nn: ONNX Runtime from npm)
#   sanitize  test + clang and its runtime libraries (libFuzzer; the
#          sanitizer suite itself uses gcc's ASan) (scripts/test-sanitizers.sh)
#   deb    run + GObject introspection and debhelper: the Debian packages
#          (scripts/build-deb.sh; test includes it)
#
#   --list GROUP...  prints the packages, one a line, and installs nothing.
#
# Idempotent: re-running only installs what is missing.
set -euo pipefail
list_only=0
if [ "${1:-}" = "--list" ]; then
  list_only=1
  shift
fi

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
deb_packages=(
  # introspection data for the meta library (examples/python-meta.py)
  gobject-introspection libgirepository1.0-dev
  # dpkg-buildpackage with debian/ (scripts/build-deb.sh, tests/packaging)
  debhelper dpkg-dev
)
test_packages=(
  python3-torch python3-numpy python3-pil python3-onnx
  python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
  "${deb_packages[@]}"
  # tests/examples/test-slurm.py: a one-node Slurm cluster, started and
  # stopped by the test itself (the packages' own services are not used)
  slurm-wlm munge
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
    deb) packages+=("${run_packages[@]}" "${deb_packages[@]}") ;;
    sanitize) packages+=("${run_packages[@]}" "${test_packages[@]}" "${sanitize_packages[@]}") ;;
    bench)
      packages+=("${run_packages[@]}")
      # Node.js comes with some machine images; Debian's only where none is present.
      command -v node >/dev/null 2>&1 || packages+=(nodejs npm) ;;
    *) echo "install-deps: unknown group '$group' (run, test, train, bench, deb, sanitize)" >&2; exit 2 ;;
  esac
done

if [ $list_only -eq 1 ]; then
  printf '%s\n' "${packages[@]}" | awk '!seen[$0]++'
  exit 0
fi

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

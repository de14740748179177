#!/usr/bin/env bash
# Installs every Debian package facekp needs to build, run, test and train.
# Idempotent: re-running only installs what is missing.
set -euo pipefail

packages=(
  # build
  build-essential meson ninja-build pkg-config
  # nn-core
  libglib2.0-dev libopenblas-dev libprotobuf-c-dev protobuf-c-compiler
  # stickers
  libcairo2-dev librsvg2-dev
  # gst-plugin
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-libav
  # training, fixtures and the Python example (Debian's interpreter, /usr/bin/python3)
  python3 python3-torch python3-numpy python3-pil python3-onnx python3-matplotlib
  python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
)
# Node.js and npm (benchmarks against ONNX Runtime, detector weights) come with this
# machine image; install Debian's only where no node is present.
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

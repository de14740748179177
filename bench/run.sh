#!/usr/bin/env bash
# Every speed figure of issue #18 in one command:
#
#   bench/run.sh [--build DIR] [--rounds N] [--frames N]
#
# 1. the CPU (model and SIMD flags) and the load;
# 2. nn-core against ONNX Runtime on the shipped models, 1 and 2 threads,
#    interleaved (bench/nn/run.sh --shipped);
# 3. facekpfilter's fps and per-frame time (median, p95) for 1, 2 and 4
#    faces at 640x480 and 1920x1080, with and without stickers
#    (bench/gst/bench-facekpfilter.py);
# 4. the element's targets scaled to this machine by ONNX Runtime's speed
#    here (bench/summary.py).
# docs/performance.md is written from its output.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build="$here/../build"
rounds=5
frames=120
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2;;
    --rounds) rounds=$2; shift 2;;
    --frames) frames=$2; shift 2;;
    *) echo "bench: unknown option $1" >&2; exit 2;;
  esac
done
build=$(cd "$build" && pwd)
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')," \
     "$(nproc) CPUs; SIMD flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' \
     | grep -E '^(avx|avx2|fma|avx512f|avx512bw|avx512_vnni|avx_vnni)$' | tr '\n' ' ')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
bash "$here/nn/run.sh" --build "$build" --shipped --threads 1,2 --rounds "$rounds" --runs 20 \
  --json "$out/nn.json"
echo
GST_PLUGIN_PATH="$build/gst-plugin" /usr/bin/python3 "$here/gst/bench-facekpfilter.py" --frames "$frames" \
  --faces 1,2,4 --sizes 640x480,1920x1080 --repeat 2 --json "$out/gst.json"
echo
/usr/bin/python3 "$here/summary.py" "$out/nn.json" "$out/gst.json"

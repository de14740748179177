#!/usr/bin/env bash
# The main job: install dependencies, build, then run facekpfilter on the embedded
# sample clip, writing a stickered video and its landmarks as JSON lines.
#   scripts/demo.sh [INPUT_VIDEO] [OUTPUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh run
BUILD=${BUILD:-build}
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD"
meson compile -C "$BUILD"

input=${1:-examples/media/sample.avi}
out=${2:-demo-out}
mkdir -p "$out"
name=$(basename "${input%.*}")
video="$out/$name-stickers.avi"
landmarks="$out/$name.jsonl"

build_dir=$(cd "$BUILD" && pwd)   # BUILD may be relative or absolute
export GST_PLUGIN_PATH="$build_dir/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
# A file job: the detector's boxes join 2 frames after the frame it saw,
# whatever the machine's load, so every run writes the same landmarks (the
# element's default, joining when ready, is for live video).
gst-launch-1.0 -q filesrc location="$input" ! decodebin ! videoconvert \
  ! facekpfilter stickers=default detect-latency=2 export-location="$landmarks" \
  ! videoconvert ! jpegenc quality=90 ! avimux ! filesink location="$video"

/usr/bin/python3 - "$landmarks" <<'PY'
import json, sys
frames = [json.loads(line) for line in open(sys.argv[1])]
faces = [len(f["faces"]) for f in frames]
print(f"{len(frames)} frames, {sum(faces)} faces in all, {max(faces, default=0)} at most in one frame")
PY
echo "wrote $video and $landmarks"

#!/usr/bin/env bash
# Stickers on a webcam, shown in a window.
#
#   examples/webcam.sh                           # /dev/video0, the default pack
#   examples/webcam.sh --device /dev/video2 --stickers seed --landmarks
#
# Without a camera, a video file can stand in for it and the result can go to a
# file instead of a window (this is how the test runs it):
#
#   examples/webcam.sh --fake-camera examples/media/sample.avi --output out.avi
#
# From the build tree, set GST_PLUGIN_PATH=BUILD/gst-plugin first.
# The pipeline it runs, with a camera and a window:
#
#   gst-launch-1.0 v4l2src device=/dev/video0 ! decodebin ! videoconvert ! \
#       facekpfilter stickers=default ! videoconvert ! autovideosink
set -euo pipefail

device=/dev/video0
stickers=default
fake_camera=""
output=""
landmarks=false
usage="usage: $0 [--device DEV] [--stickers PACK] [--landmarks] [--fake-camera FILE] [--output FILE.avi]"
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --stickers) stickers=$2; shift 2 ;;
    --landmarks) landmarks=true; shift ;;
    --fake-camera) fake_camera=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done

if [ -n "$fake_camera" ]; then
  [ -f "$fake_camera" ] || { echo "webcam.sh: no such file: $fake_camera" >&2; exit 1; }
  source=(filesrc "location=\"$fake_camera\"" ! decodebin)
else
  source=(v4l2src "device=\"$device\"" ! decodebin)   # decodebin: raw or MJPEG cameras
fi
if [ -n "$output" ]; then
  # MJPEG in AVI: written by gst-plugins-good alone, readable everywhere.
  sink=(jpegenc ! avimux ! filesink "location=\"$output\"")
else
  sink=(autovideosink)
fi

# -e: Ctrl-C sends EOS first, so a file output is finished properly.
exec gst-launch-1.0 -e "${source[@]}" ! videoconvert ! \
  facekpfilter "stickers=\"$stickers\"" "draw-landmarks=$landmarks" ! \
  videoconvert ! "${sink[@]}"

#!/usr/bin/env bash
# Streaming, receiver side: RTP/JPEG from examples/stream-send.sh, to a window or to files.
#
#   examples/stream-receive.sh                          # port 5000, in a window
#   examples/stream-receive.sh --port 5004 --output-dir frames/
#
# With --output-dir every received frame is written as DIR/frame-00000.jpg, ...
# (the JPEG as sent, not decoded and re-encoded).  Stop with Ctrl-C.
# The pipeline, to a window:
#
#   gst-launch-1.0 udpsrc port=5000 \
#       caps="application/x-rtp,media=video,clock-rate=90000,encoding-name=JPEG,payload=26" ! \
#       rtpjitterbuffer ! rtpjpegdepay ! jpegdec ! videoconvert ! autovideosink
set -euo pipefail

address=127.0.0.1
port=5000
output_dir=""
usage="usage: $0 [--address ADDR] [--port N] [--output-dir DIR]"
while [ $# -gt 0 ]; do
  case "$1" in
    --address) address=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --output-dir) output_dir=$2; shift 2 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done

caps="application/x-rtp,media=video,clock-rate=90000,encoding-name=JPEG,payload=26"
if [ -n "$output_dir" ]; then
  mkdir -p "$output_dir"
  sink=(multifilesink "location=\"$output_dir/frame-%05d.jpg\"")
else
  sink=(jpegdec ! videoconvert ! autovideosink)
fi

exec gst-launch-1.0 -e udpsrc "address=$address" "port=$port" "caps=$caps" ! \
  rtpjitterbuffer latency=100 ! rtpjpegdepay ! "${sink[@]}"

#!/usr/bin/env bash
# Streaming, sender side: stickers on a camera (or a file), sent as RTP/JPEG over UDP.
#
#   examples/stream-send.sh                               # /dev/video0 to 127.0.0.1:5000
#   examples/stream-send.sh --file clip.avi --port 5004
#
# Receive with examples/stream-receive.sh on the same port.  JPEG over RTP
# (rtpjpegpay, RFC 2435) needs only gst-plugins-good and survives lost packets
# frame by frame; sizes must be multiples of 8 up to 2040, which most cameras give.
# The pipeline, with a camera:
#
#   gst-launch-1.0 v4l2src ! decodebin ! videoconvert ! facekpfilter stickers=default ! \
#       videoconvert ! jpegenc ! rtpjpegpay ! udpsink host=127.0.0.1 port=5000
set -euo pipefail

device=/dev/video0
file=""
host=127.0.0.1
port=5000
stickers=default
usage="usage: $0 [--device DEV | --file FILE] [--host ADDR] [--port N] [--stickers PACK]"
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --file) file=$2; shift 2 ;;
    --host) host=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --stickers) stickers=$2; shift 2 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done

if [ -n "$file" ]; then
  [ -f "$file" ] || { echo "stream-send.sh: no such file: $file" >&2; exit 1; }
  # sync on the sink below paces a file at its own frame rate, as a camera would be.
  source=(filesrc "location=\"$file\"" ! decodebin)
else
  source=(v4l2src "device=\"$device\"" ! decodebin)   # decodebin: raw or MJPEG cameras
fi

exec gst-launch-1.0 -e "${source[@]}" ! videoconvert ! \
  facekpfilter "stickers=\"$stickers\"" ! videoconvert ! \
  jpegenc quality=85 ! rtpjpegpay ! udpsink "host=$host" "port=$port"

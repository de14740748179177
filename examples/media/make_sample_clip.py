#!/usr/bin/python3
"""Makes examples/media/sample.avi, the clip the README's main command runs on.

A slow pan, zoom and roll over tests/data/sample4.jpg (four people; licence in
tests/data/LICENSE-photos), 640x480, 15 fps, MJPEG in AVI, so that any
GStreamer install with the good plugins decodes it.
"""
import math
import os
import subprocess
import sys
import tempfile

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "..", "..", "tests", "data", "sample4.jpg")
FRAMES, FPS, SIZE = 45, 15, (640, 480)


def window(t):
    """Centre, width and roll (degrees) of the source window at t in [0, 1]."""
    ease = 0.5 - 0.5 * math.cos(math.pi * t)
    cx = 600 + 140 * ease
    cy = 450 - 80 * ease
    width = 1150 - 250 * ease
    roll = 8 * math.sin(2 * math.pi * t)
    return cx, cy, width, roll


def frame(photo, t):
    cx, cy, width, roll = window(t)
    height = width * SIZE[1] / SIZE[0]
    # Rotate about the window centre, then cut the window and scale it to the output size.
    rotated = photo.rotate(roll, resample=Image.BICUBIC, center=(cx, cy))
    box = (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
    return rotated.transform(SIZE, Image.EXTENT, box, resample=Image.BILINEAR)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "sample.avi")
    photo = Image.open(SOURCE).convert("RGB")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(FRAMES):
            frame(photo, i / (FRAMES - 1)).save(os.path.join(tmp, f"{i:03d}.jpg"), quality=95)
        subprocess.run(["gst-launch-1.0", "-q", "multifilesrc", f"location={tmp}/%03d.jpg",
                        "index=0", f"stop-index={FRAMES - 1}",
                        f"caps=image/jpeg,framerate={FPS}/1", "!", "jpegdec", "!",
                        "jpegenc", "quality=80", "!", "avimux", "!",
                        "filesink", f"location={out}"], check=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

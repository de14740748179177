#!/usr/bin/python3
"""Makes docs/images/before-after.jpg: a frame of examples/media/sample.avi as it
goes into facekpfilter (left) and as it comes out with the default stickers (right).

    GST_PLUGIN_PATH=BUILD/gst-plugin /usr/bin/python3 docs/images/make_before_after.py [--frame N]

Rerun it whenever the shipped landmark model changes: the picture shows the model
that was shipped when it was made.
"""
import argparse
import os

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402
from PIL import Image  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "..", "..", "examples", "media", "sample.avi")


def frame_of(element, index):
    """Frame `index` of the sample after `element` (a gst-launch fragment or '')."""
    pipeline = Gst.parse_launch(
        f'filesrc location="{SAMPLE}" ! decodebin ! videoconvert ! {element} '
        'videoconvert ! video/x-raw,format=RGB ! appsink name=out sync=false')
    sink = pipeline.get_by_name("out")
    pipeline.set_state(Gst.State.PLAYING)
    image = None
    for _ in range(index + 1):
        sample = sink.emit("try-pull-sample", 60 * Gst.SECOND)
        if sample is None:
            break
        structure = sample.get_caps().get_structure(0)
        width, height = structure.get_int("width")[1], structure.get_int("height")[1]
        buffer = sample.get_buffer()
        data = buffer.extract_dup(0, buffer.get_size())
        stride = len(data) // height
        image = Image.frombytes("RGB", (width, height), data, "raw", "RGB", stride)
    pipeline.set_state(Gst.State.NULL)
    if image is None:
        raise SystemExit(f"make_before_after: the sample has no frame {index}")
    return image


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--frame", type=int, default=20)
    parser.add_argument("--stickers", default="default")
    parser.add_argument("--output", default=os.path.join(HERE, "before-after.jpg"))
    args = parser.parse_args()
    Gst.init(None)
    if Gst.ElementFactory.find("facekpfilter") is None:
        raise SystemExit("make_before_after: facekpfilter not found (set GST_PLUGIN_PATH)")
    before = frame_of("", args.frame)
    after = frame_of(f'facekpfilter stickers="{args.stickers}" !', args.frame)
    gap = 8
    both = Image.new("RGB", (before.width * 2 + gap, before.height), "white")
    both.paste(before, (0, 0))
    both.paste(after, (before.width + gap, 0))
    both.save(args.output, quality=88)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

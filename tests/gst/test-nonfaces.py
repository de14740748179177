#!/usr/bin/python3
"""facekpfilter on pictures with no face: every videotestsrc pattern, in the
pixel formats the element takes, must give no face on any frame.

One pipeline per format: videotestsrc changes its pattern every --frames
buffers (a probe on its source pad sets the next buffer's pattern), and the
element's JSON export says how many faces each frame had.  By default RGBA
and I420 (RGB luma and the Y plane, the two ways the element reads pixels);
--all-formats runs all 18 formats the element's caps list."""
import argparse
import json
import os
import sys
import tempfile

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

FORMATS = ["RGBx", "BGRx", "xRGB", "xBGR", "RGBA", "BGRA", "ARGB", "ABGR", "RGB", "BGR",
           "I420", "YV12", "NV12", "NV21", "YUY2", "UYVY", "AYUV", "GRAY8"]


def patterns():
    """Every value of videotestsrc's pattern enum, from the element itself."""
    src = Gst.ElementFactory.make("videotestsrc", None)
    enum = src.find_property("pattern").enum_class
    return sorted((int(v), v.value_nick) for v in enum.__enum_values__.values())


def run_format(fmt, pats, frames, size, work, props=""):
    export = os.path.join(work, f"{fmt}.jsonl")
    width, height = size
    pipeline = Gst.parse_launch(
        f"videotestsrc name=src num-buffers={len(pats) * frames} pattern={pats[0][0]} ! "
        f"video/x-raw,format={fmt},width={width},height={height},framerate=30/1 ! "
        f"facekpfilter stickers=none export-location={export} {props} ! fakesink")
    src = pipeline.get_by_name("src")
    counter = {"n": 0}

    def next_pattern(pad, info):
        counter["n"] += 1
        k = counter["n"] // frames
        if k < len(pats) and counter["n"] % frames == 0:
            src.set_property("pattern", pats[k][0])
        return Gst.PadProbeReturn.OK

    src.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, next_pattern)
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(600 * Gst.SECOND,
                                                Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if msg is None or msg.type != Gst.MessageType.EOS:
        err = msg.parse_error()[0].message if msg else "timeout"
        return None, f"{fmt}: pipeline failed: {err}"
    with open(export) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    found = []
    for line in lines:
        if line["faces"]:
            name = pats[min(line["frame"] // frames, len(pats) - 1)][1]
            found.append((name, line["frame"], [round(face["score"], 3) for face in line["faces"]]))
    return (len(lines), found), None


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--all-formats", action="store_true")
    ap.add_argument("--frames", type=int, default=2, help="frames per pattern")
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--props", default="", help="more facekpfilter properties, e.g. min-presence=0.2")
    args = ap.parse_args()
    Gst.init(None)
    pats = patterns()
    size = tuple(int(v) for v in args.size.split("x"))
    formats = FORMATS if args.all_formats else ["RGBA", "I420"]
    failures, total = [], 0
    with tempfile.TemporaryDirectory() as work:
        for fmt in formats:
            result, error = run_format(fmt, pats, args.frames, size, work, args.props)
            if error:
                failures.append(error)
                continue
            n, found = result
            total += n
            if n != len(pats) * args.frames:
                failures.append(f"{fmt}: {n} export lines for {len(pats) * args.frames} frames")
            for name, frame, scores in found:
                failures.append(f"{fmt}: pattern {name} frame {frame}: {len(scores)} face(s), "
                                f"score {scores}")
            print(f"{fmt}: {n} frames, {len(found)} with a face")
    print(f"{len(pats)} patterns x {len(formats)} formats x {args.frames} frames: {total} frames, "
          f"{len(failures)} failures")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

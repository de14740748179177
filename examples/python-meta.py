#!/usr/bin/python3
"""Reads GstFaceLandmarksMeta from Python, on every buffer, in a pad probe.

    examples/python-meta.py clip.avi                      # any file decodebin can read
    examples/python-meta.py --export faces.jsonl clip.avi # the element's own lines too

Runs `filesrc ! decodebin ! videoconvert ! facekpfilter ! fakesink` and prints,
for each buffer leaving facekpfilter, one JSON line built from the meta on the
buffer, in the format of the element's `export-location` lines:

    {"frame": 0, "pts": 0, "running_time": 0, "width": 640, "height": 480,
     "faces": [{"id": 1, "score": 0.9871, "box": [x, y, w, h], "points": [[x0, y0], ...]}]}

The meta is read through GObject introspection (namespace FacekpMeta 1.0).
From the build tree:

    GST_PLUGIN_PATH=build/gst-plugin GI_TYPELIB_PATH=build/gst-plugin/meta \\
    LD_LIBRARY_PATH=build/gst-plugin/meta examples/python-meta.py clip.avi

With the Debian package gir1.2-facekpmeta-1.0 (or an install with prefix /usr)
no variable is needed; under /usr/local, GI_TYPELIB_PATH must name
/usr/local/lib/<multiarch>/girepository-1.0.  Needs Debian's python3-gi and gir1.2-gstreamer-1.0 (run
it with /usr/bin/python3).
"""
import argparse
import math
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GLib", "2.0")
from gi.repository import GLib, Gst  # noqa: E402

try:
    gi.require_version("FacekpMeta", "1.0")
    from gi.repository import FacekpMeta  # noqa: E402
except (ValueError, ImportError) as error:
    sys.exit(f"python-meta: FacekpMeta-1.0.typelib not found ({error}); from the build tree set "
             "GI_TYPELIB_PATH and LD_LIBRARY_PATH to BUILD/gst-plugin/meta")


def number(value, decimals):
    """A coordinate or score as the export writes it: fixed decimals, no
    "-0.00", null for what JSON cannot hold."""
    if not math.isfinite(value):
        return "null"
    text = f"{value:.{decimals}f}"
    if text.startswith("-") and not text.strip("-0."):
        text = text[1:]
    return text


def clock_time(value):
    return "null" if value == Gst.CLOCK_TIME_NONE else str(value)


def face_json(face):
    """One FacekpMeta.Face (a copy of the meta's face, read through accessors)."""
    box = ", ".join(number(v, 2) for v in face.get_box())
    flat = face.get_points()   # x0, y0, x1, y1, ... (136 values)
    points = ", ".join(f"[{number(flat[i], 2)}, {number(flat[i + 1], 2)}]"
                       for i in range(0, len(flat), 2))
    return (f'{{"id": {face.get_id()}, "score": {number(face.get_score(), 4)}, '
            f'"box": [{box}], "points": [{points}]}}')


def frame_json(frame, pts, running_time, meta):
    faces = ", ".join(face_json(face) for face in meta.get_faces())
    return (f'{{"frame": {frame}, "pts": {clock_time(pts)}, '
            f'"running_time": {clock_time(running_time)}, '
            f'"width": {meta.width}, "height": {meta.height}, "faces": [{faces}]}}')


def running_time_of(pad, pts):
    """The buffer's running time from the segment on the pad, as the element computes it."""
    if pts == Gst.CLOCK_TIME_NONE:
        return Gst.CLOCK_TIME_NONE
    event = pad.get_sticky_event(Gst.EventType.SEGMENT, 0)
    if event is None:
        return Gst.CLOCK_TIME_NONE
    segment = event.parse_segment()
    if segment.format != Gst.Format.TIME:
        return Gst.CLOCK_TIME_NONE
    return segment.to_running_time(Gst.Format.TIME, pts)


def build_pipeline(args):
    pipeline = Gst.Pipeline.new("python-meta")
    source = Gst.ElementFactory.make("filesrc")
    source.set_property("location", args.file)
    decode = Gst.ElementFactory.make("decodebin")
    convert = Gst.ElementFactory.make("videoconvert")
    facekp = Gst.ElementFactory.make("facekpfilter")
    if facekp is None:
        sys.exit("python-meta: element facekpfilter not found (set GST_PLUGIN_PATH to BUILD/gst-plugin "
                 "when running from the build tree)")
    facekp.set_property("stickers", "none")
    if args.export:
        facekp.set_property("export-location", args.export)
    sink = Gst.ElementFactory.make("fakesink")
    sink.set_property("sync", False)   # a file: as fast as possible
    for element in (source, decode, convert, facekp, sink):
        pipeline.add(element)
    source.link(decode)
    decode.connect("pad-added", lambda _, pad: pad.link(convert.get_static_pad("sink")))
    convert.link(facekp)
    facekp.link(sink)
    return pipeline, facekp.get_static_pad("src")


def main():
    parser = argparse.ArgumentParser(description="Print the faces of GstFaceLandmarksMeta as JSON lines.")
    parser.add_argument("file", help="video file")
    parser.add_argument("--export", help="also let facekpfilter write its JSON lines here")
    args = parser.parse_args()

    Gst.init(None)
    pipeline, pad = build_pipeline(args)
    frames = {"count": 0}

    def on_buffer(probe_pad, info):
        buffer = info.get_buffer()
        meta = FacekpMeta.buffer_get_face_landmarks_meta(buffer)
        if meta is None:   # facekpfilter attaches one to every buffer
            print(f"python-meta: frame {frames['count']} has no face landmarks meta", file=sys.stderr)
        else:
            print(frame_json(frames["count"], buffer.pts, running_time_of(probe_pad, buffer.pts), meta),
                  flush=True)
        frames["count"] += 1
        return Gst.PadProbeReturn.OK

    pad.add_probe(Gst.PadProbeType.BUFFER, on_buffer)

    loop = GLib.MainLoop()
    status = {"code": 0}

    def on_message(_bus, message):
        if message.type == Gst.MessageType.EOS:
            loop.quit()
        elif message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            print(f"python-meta: {message.src.get_name()}: {error.message}", file=sys.stderr)
            if debug:
                print(f"  ({debug})", file=sys.stderr)
            status["code"] = 1
            loop.quit()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        status["code"] = 1   # the error message on the bus says why
    loop.run()
    pipeline.set_state(Gst.State.NULL)
    bus.remove_signal_watch()
    return status["code"]


if __name__ == "__main__":
    sys.exit(main())

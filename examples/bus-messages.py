#!/usr/bin/python3
"""Reads the `facekp` element messages that facekpfilter posts on the bus.

    examples/bus-messages.py                    # the first webcam (v4l2src)
    examples/bus-messages.py clip.avi           # any file decodebin can read
    examples/bus-messages.py --on-change clip.avi
    examples/bus-messages.py --json clip.avi    # one JSON object per message

Prints one line per message and one per face:

    frame 12 pts 0:00:00.800000000 faces 2
      face 1 score 0.912 box 211 95 181 202 nose 284.9 205.6

Needs Debian's python3-gi and gir1.2-gstreamer-1.0 (run it with /usr/bin/python3).
Ctrl-C stops the pipeline cleanly (EOS), so --export files end with a whole line.
"""
import argparse
import json
import signal
import sys
import warnings

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GLib", "2.0")
from gi.repository import GLib, Gst  # noqa: E402

NOSE_TIP = 30  # iBUG 68-point index


def value_array_items(array):
    """The items of a list or array field read with Structure.get_list/get_array.

    Without python3-gst-1.0's overrides PyGObject cannot convert GstValueList
    itself (Structure.get_value fails); get_list hands it over as a
    GObject.ValueArray, whose only accessor, get_nth, is marked deprecated.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return [array.get_nth(i) for i in range(array.n_values)]


def faces_of(structure):
    """The faces of a `facekp` message as dicts (coordinates in frame pixels)."""
    ok, faces = structure.get_list("faces")
    if not ok:
        return []
    result = []
    for face in value_array_items(faces):
        _, landmarks = face.get_array("landmarks")
        flat = value_array_items(landmarks)
        result.append({
            "id": face.get_int("id")[1],
            "score": face.get_double("score")[1],
            "box": [face.get_uint(key)[1] for key in ("x", "y", "width", "height")],
            "points": [[flat[2 * i], flat[2 * i + 1]] for i in range(len(flat) // 2)],
        })
    return result


def clock_time(value):
    """A message's time field: nanoseconds, or None when unknown."""
    return None if value == Gst.CLOCK_TIME_NONE else value


def format_time(ns):
    """H:MM:SS.nnnnnnnnn, as GStreamer prints times."""
    seconds, fraction = divmod(ns, Gst.SECOND)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{fraction:09d}"


def print_message(structure, as_json):
    frame = structure.get_uint64("frame")[1]
    pts = clock_time(structure.get_uint64("timestamp")[1])
    running_time = clock_time(structure.get_uint64("running-time")[1])
    faces = faces_of(structure)
    if as_json:
        print(json.dumps({"frame": frame, "pts": pts, "running_time": running_time,
                          "faces": faces}), flush=True)
        return
    pts_text = "none" if pts is None else format_time(pts)
    print(f"frame {frame} pts {pts_text} faces {len(faces)}")
    for face in faces:
        x, y, w, h = face["box"]
        nose = face["points"][NOSE_TIP]
        print(f"  face {face['id']} score {face['score']:.3f} box {x} {y} {w} {h} "
              f"nose {nose[0]:.1f} {nose[1]:.1f}")
    sys.stdout.flush()


def build_pipeline(args):
    if args.file:
        source = Gst.ElementFactory.make("filesrc")
        source.set_property("location", args.file)
    else:
        source = Gst.ElementFactory.make("v4l2src")
        source.set_property("device", args.device)
    # Decodes files, and MJPEG cameras; raw camera video passes through.
    decode = Gst.ElementFactory.make("decodebin")
    convert = Gst.ElementFactory.make("videoconvert")
    facekp = Gst.ElementFactory.make("facekpfilter")
    if facekp is None:
        sys.exit("bus-messages: element facekpfilter not found (set GST_PLUGIN_PATH to BUILD/gst-plugin "
                 "when running from the build tree)")
    facekp.set_property("stickers", "")
    facekp.set_property("post-messages", "on-change" if args.on_change else "every-frame")
    if args.export:
        facekp.set_property("export-location", args.export)
    sink = Gst.ElementFactory.make("fakesink")
    sink.set_property("sync", not args.file)  # a file: as fast as possible

    pipeline = Gst.Pipeline.new("bus-messages")
    for element in (source, decode, convert, facekp, sink):
        pipeline.add(element)
    source.link(decode)
    decode.connect("pad-added", lambda _, pad: pad.link(convert.get_static_pad("sink")))
    convert.link(facekp)
    facekp.link(sink)
    return pipeline


def main():
    parser = argparse.ArgumentParser(description="Print the faces in facekpfilter's bus messages.")
    parser.add_argument("file", nargs="?", help="video file (default: a webcam)")
    parser.add_argument("--device", default="/dev/video0", help="camera when no file is given")
    parser.add_argument("--on-change", action="store_true",
                        help="post-messages=on-change: only when faces come or go")
    parser.add_argument("--json", action="store_true", help="print each message as one JSON line")
    parser.add_argument("--export", help="also let facekpfilter write its JSON lines here")
    args = parser.parse_args()

    Gst.init(None)
    pipeline = build_pipeline(args)
    loop = GLib.MainLoop()
    status = {"code": 0}

    def on_message(_bus, message):
        if message.type == Gst.MessageType.ELEMENT:
            structure = message.get_structure()
            if structure is not None and structure.get_name() == "facekp":
                try:
                    print_message(structure, args.json)
                except BrokenPipeError:  # piped into head and the like
                    pipeline.send_event(Gst.Event.new_eos())
        elif message.type == Gst.MessageType.EOS:
            loop.quit()
        elif message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            print(f"bus-messages: {message.src.get_name()}: {error.message}", file=sys.stderr)
            if debug:
                print(f"  ({debug})", file=sys.stderr)
            status["code"] = 1
            loop.quit()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)

    def on_interrupt():
        pipeline.send_event(Gst.Event.new_eos())
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, on_interrupt)
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        status["code"] = 1  # the error message on the bus says why
    loop.run()
    pipeline.set_state(Gst.State.NULL)
    bus.remove_signal_watch()
    return status["code"]


if __name__ == "__main__":
    sys.exit(main())

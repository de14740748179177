#!/usr/bin/env python3
"""Soak run of facekpfilter: many frames through one element, with flushing
seeks, property changes and caps changes mixed in, sampling the process's
resident memory (VmRSS) and open file descriptors.

    GST_PLUGIN_PATH=build/gst-plugin /usr/bin/python3 bench/soak/soak.py --frames 100000 \
        --model build/bench/soak/soak-landmarks.onnx --csv soak.csv

(python3 with PyGObject: Debian's python3-gi, `scripts/install-deps.sh test`.)

--model: the landmark model (default: the shipped one).  The build writes
bench/soak/soak-landmarks.onnx, whose points do not depend on the pixels
(make-soak-model.c): the same face on every frame, the element's work without
the network's, so that 100,000 frames take minutes, not hours.

Prints one sample per --every frames and, at the end, the growth of RSS and
of the fd count from the end of the warm-up (--warmup frames) to the end.
Exit status 1 when RSS grew by more than --max-growth-kb or fds grew at all.
"""
import argparse
import os
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def n_fds():
    return len(os.listdir("/proc/self/fd"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=100000)
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--height", type=int, default=96)
    parser.add_argument("--every", type=int, default=1000, help="frames between samples")
    parser.add_argument("--warmup", type=int, default=5000)
    parser.add_argument("--max-growth-kb", type=int, default=1024)
    parser.add_argument("--model", help="landmark model (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=1, help="the element's threads")
    parser.add_argument("--csv", help="write frame,seconds,rss_kb,fds here")
    args = parser.parse_args()

    Gst.init(None)
    export = f"/tmp/facekp-soak-{os.getpid()}.jsonl"
    pipeline = Gst.parse_launch(
        "videotestsrc name=src pattern=ball ! capsfilter name=caps ! videoconvert ! "
        f"facekpfilter name=f threads={args.threads} face-source=full-frame stickers=default "
        f"post-messages=on-change export-location={export} ! fakesink name=sink sync=false")
    caps = pipeline.get_by_name("caps")
    element = pipeline.get_by_name("f")
    if args.model:
        element.set_property("model", args.model)
    sizes = [(args.width, args.height), (args.width + 32, args.height + 16)]

    def set_size(index):
        w, h = sizes[index % 2]
        caps.set_property("caps", Gst.Caps.from_string(
            f"video/x-raw,format=I420,width={w},height={h},framerate=30/1"))

    set_size(0)
    state = {"frames": 0, "samples": [], "start": time.monotonic(), "seek": False}
    loop = GLib.MainLoop()

    def on_buffer(pad, info):
        state["frames"] += 1
        n = state["frames"]
        # Changes mixed in, each on its own period.
        if n % 5000 == 0:
            GLib.idle_add(lambda k=n: set_size(k // 5000) and False)
        if n % 1000 == 0:
            element.set_property("stickers", "none" if (n // 1000) % 2 else "default")
            element.set_property("max-faces", 1 + (n // 1000) % 4)
        if n % 2500 == 0:
            state["seek"] = True
        if n % args.every == 0:
            sample = (n, time.monotonic() - state["start"], rss_kb(), n_fds())
            state["samples"].append(sample)
            print("frame %7d  %7.1f s  rss %7d kB  fds %3d" % sample, flush=True)
        if n >= args.frames:
            GLib.idle_add(loop.quit)
        return Gst.PadProbeReturn.OK

    def flushing_seek():
        if state["seek"]:
            state["seek"] = False
            pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH, 0)
        return True

    def on_message(bus, message):
        if message.type == Gst.MessageType.ERROR:
            err, debug = message.parse_error()
            print(f"error: {err.message}", file=sys.stderr)
            loop.quit()
        elif message.type == Gst.MessageType.EOS:
            loop.quit()

    pipeline.get_by_name("sink").get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER, on_buffer)
    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    GLib.timeout_add(50, flushing_seek)
    # SIGTERM or SIGINT stops the run early; the summary still covers it.
    for signum in (2, 15):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, lambda: loop.quit() or False)
    pipeline.set_state(Gst.State.PLAYING)
    loop.run()
    pipeline.set_state(Gst.State.NULL)
    os.unlink(export) if os.path.exists(export) else None

    samples = state["samples"]
    if args.csv:
        with open(args.csv, "w") as f:
            f.write("frame,seconds,rss_kb,fds\n")
            for s in samples:
                f.write("%d,%.2f,%d,%d\n" % s)
    after = [s for s in samples if s[0] >= args.warmup]
    if len(after) < 2:
        print(f"soak: only {state['frames']} frames", file=sys.stderr)
        return 1
    if state["frames"] < args.frames:
        print(f"soak: stopped early, at {state['frames']} of {args.frames} frames")
    rss_growth = after[-1][2] - after[0][2]
    fd_growth = after[-1][3] - after[0][3]
    peak = max(s[2] for s in after) - after[0][2]
    print(f"soak: {state['frames']} frames of {args.width}x{args.height} (and "
          f"{sizes[1][0]}x{sizes[1][1]}) in {samples[-1][1]:.0f} s; after {args.warmup} frames "
          f"of warm-up: RSS {after[0][2]} -> {after[-1][2]} kB ({rss_growth:+d} kB, peak "
          f"{peak:+d} kB), fds {after[0][3]} -> {after[-1][3]} ({fd_growth:+d})")
    complete = state["frames"] >= args.frames
    return 0 if complete and rss_growth <= args.max_growth_kb and fd_growth <= 0 else 1


if __name__ == "__main__":
    sys.exit(main())

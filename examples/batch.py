#!/usr/bin/python3
"""Stickers on every video in a folder, several files at a time.

    examples/batch.py videos/ out/
    examples/batch.py --jobs 2 --stickers seed videos/ out/

For each input NAME.EXT it writes out/NAME.facekp.EXT (stickered, same container
family, audio copied: see file_to_file.py) and out/NAME.jsonl (the landmarks of
every frame).  Files run in parallel, at most --jobs at a time (default: one per
CPU core); each facekpfilter then gets cores / jobs threads so the machine is not
oversubscribed.  While running it shows one progress line per file; at the end a
summary.  A file that fails, or makes no progress for --stall-timeout seconds,
is reported and its partial video removed; the others go on.  Exit status: 0
when every file succeeded, 1 otherwise, 2 on bad arguments.
"""
import argparse
import json
import os
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GLib", "2.0")
from gi.repository import GLib, Gst  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from file_to_file import Transcode  # noqa: E402

VIDEO_EXTENSIONS = {".avi", ".mkv", ".webm", ".mp4", ".m4v", ".mov", ".ogv", ".ogg", ".ts", ".flv"}
REFRESH_MS = 500


def landmark_summary(jsonl_path):
    """(lines, frames with at least one face, distinct face ids) of an export file."""
    lines = frames_with_faces = 0
    ids = set()
    try:
        with open(jsonl_path, encoding="utf-8") as lines_file:
            for line in lines_file:
                record = json.loads(line)
                lines += 1
                if record["faces"]:
                    frames_with_faces += 1
                ids.update(face["id"] for face in record["faces"])
    except (OSError, ValueError, KeyError):
        pass
    return lines, frames_with_faces, len(ids)


class Progress:
    """One line per running file: redrawn in place on a terminal; in a log, a
    line each time a file passes another tenth of its duration."""

    def __init__(self, stream):
        self.stream = stream
        self.live = stream.isatty()
        self.drawn_lines = 0
        self.logged_tenth = {}

    def show(self, rows):
        """rows: (name, percent or None, text)."""
        if self.live:
            if self.drawn_lines:
                self.stream.write(f"\x1b[{self.drawn_lines}F")
            for _, _, text in rows:
                self.stream.write("\x1b[2K" + text + "\n")
            self.drawn_lines = len(rows)
        else:
            for name, percent, text in rows:
                tenth = -1 if percent is None else int(percent // 10)
                if self.logged_tenth.get(name) != tenth:
                    self.logged_tenth[name] = tenth
                    self.stream.write(text + "\n")
        self.stream.flush()

    def message(self, text, stream):
        """A line that stays (a file finished), printed below the progress lines."""
        self.stream.flush()
        print(text, file=stream, flush=True)
        self.drawn_lines = 0


class Batch:
    def __init__(self, inputs, output_dir, jobs, stickers, threads, stall_timeout):
        self.pending = list(inputs)
        self.output_dir = output_dir
        self.jobs = jobs
        self.stickers = stickers
        self.threads = threads
        self.running = []
        self.results = []          # (input, transcode or None, seconds, error)
        self.started = {}
        self.stall_timeout = stall_timeout
        self.last_progress = {}    # input -> ((frames, position), when it last changed)
        self.loop = GLib.MainLoop()
        self.progress = Progress(sys.stdout)

    def outputs_for(self, path):
        stem, ext = os.path.splitext(os.path.basename(path))
        return (os.path.join(self.output_dir, f"{stem}.facekp{ext}"),
                os.path.join(self.output_dir, f"{stem}.jsonl"))

    def start_more(self):
        while self.pending and len(self.running) < self.jobs:
            path = self.pending.pop(0)
            video, jsonl = self.outputs_for(path)
            self.started[path] = time.monotonic()
            try:
                job = Transcode(path, video, stickers=self.stickers, export=jsonl,
                                threads=self.threads, on_done=self.on_done)
            except RuntimeError as error:   # unreadable, unknown container, missing element
                self.results.append((path, None, 0.0, str(error)))
                self.progress.message(f"{os.path.basename(path)}  FAILED: {error}", sys.stderr)
                continue
            self.running.append(job)
            job.start()
        if not self.running and not self.pending:
            self.loop.quit()

    def on_done(self, job):
        self.running.remove(job)
        seconds = time.monotonic() - self.started[job.input_path]
        self.results.append((job.input_path, job, seconds, job.error))
        name = os.path.basename(job.input_path)
        if job.error is None:
            self.progress.message(f"{name}  done: {job.frames} frames in {seconds:.1f} s", sys.stdout)
        else:
            self.progress.message(f"{name}  FAILED: {job.error}", sys.stderr)
        GLib.idle_add(self.start_more_once)

    def start_more_once(self):
        self.start_more()
        return GLib.SOURCE_REMOVE

    def refresh(self):
        rows = []
        for job in list(self.running):   # cancel() removes from the list
            name = os.path.basename(job.input_path)
            position, duration = job.progress()
            # A file whose pipeline stops moving (a demuxer stuck on a corrupt
            # file) must not hold its slot for ever.
            now = time.monotonic()
            state = (job.frames, position)
            previous = self.last_progress.get(job.input_path)
            if previous is None or previous[0] != state:
                self.last_progress[job.input_path] = (state, now)
            elif now - previous[1] > self.stall_timeout:
                job.cancel(f"stalled: no progress for {self.stall_timeout:.0f} s")
                continue
            elapsed = max(time.monotonic() - self.started[job.input_path], 1e-3)
            rate = f"{job.frames} frames  {job.frames / elapsed:.1f} fps"
            if position is not None and duration:
                percent = min(100.0, 100.0 * position / duration)
                rows.append((name, percent, f"{name}  {percent:5.1f}%  {rate}"))
            else:
                rows.append((name, None, f"{name}      ?%  {rate}"))
        if rows:
            self.progress.show(rows)
        return GLib.SOURCE_CONTINUE

    def run(self):
        GLib.timeout_add(REFRESH_MS, self.refresh)
        GLib.idle_add(self.start_more_once)
        self.loop.run()

    def summary(self):
        print()
        print(f"{'file':<28} {'result':<8} {'frames':>6} {'faces':>15} {'seconds':>8}  outputs / reason")
        failed = 0
        for path, job, seconds, error in sorted(self.results):
            name = os.path.basename(path)
            video, jsonl = self.outputs_for(path)
            if error is None:
                lines, with_faces, ids = landmark_summary(jsonl)
                faces = f"{with_faces}/{lines} ({ids} ids)"
                print(f"{name:<28} {'ok':<8} {job.frames:>6} {faces:>15} {seconds:>8.1f}  "
                      f"{os.path.basename(video)}, {os.path.basename(jsonl)}")
            else:
                failed += 1
                frames = job.frames if job is not None else 0
                print(f"{name:<28} {'FAILED':<8} {frames:>6} {'-':>15} {seconds:>8.1f}  {error}")
        print(f"{len(self.results) - failed} of {len(self.results)} files done, {failed} failed")
        return failed


def main():
    parser = argparse.ArgumentParser(description="Stickers on every video in a folder, in parallel.")
    parser.add_argument("input_dir")
    parser.add_argument("output_dir")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                        help="files processed at once (default: CPU cores)")
    parser.add_argument("--stickers", default="default",
                        help="sticker pack name or .ini path (default: default; '' for none)")
    parser.add_argument("--stall-timeout", type=float, default=60.0,
                        help="fail a file that makes no progress for this many seconds (default 60)")
    args = parser.parse_args()

    if not os.path.isdir(args.input_dir):
        print(f"batch: {args.input_dir} is not a folder", file=sys.stderr)
        return 2
    inputs = sorted(os.path.join(args.input_dir, name) for name in os.listdir(args.input_dir)
                    if os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS
                    and os.path.isfile(os.path.join(args.input_dir, name)))
    if not inputs:
        print(f"batch: no video files ({', '.join(sorted(VIDEO_EXTENSIONS))}) in {args.input_dir}",
              file=sys.stderr)
        return 2
    os.makedirs(args.output_dir, exist_ok=True)
    cores = os.cpu_count() or 1
    jobs = max(1, min(args.jobs, len(inputs)))
    threads = max(1, cores // jobs)
    print(f"{len(inputs)} files, {jobs} at a time, {threads} thread(s) each")

    Gst.init(None)
    batch = Batch(inputs, args.output_dir, jobs, args.stickers, threads, args.stall_timeout)
    batch.run()
    return 1 if batch.summary() else 0


if __name__ == "__main__":
    sys.exit(main())

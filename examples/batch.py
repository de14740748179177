#!/usr/bin/python3
"""Stickers on every video in a folder, several files at a time.

    examples/batch.py videos/ out/
    examples/batch.py --jobs 2 --stickers seed videos/ out/

For each input NAME.EXT it writes out/NAME.facekp.EXT (stickered, same container
family, audio copied: see file_to_file.py) and out/NAME.jsonl (the landmarks of
every frame).  Files run in parallel, at most --jobs at a time (default: one per
CPU core); each facekpfilter then gets cores / jobs threads (--threads) so the
machine is not oversubscribed.  While running it shows one progress line per
file; at the end a summary.  A file that fails, or makes no progress for
--stall-timeout seconds, is reported and the others go on.

Both outputs are written under out/.partial/ and renamed into place when the
file succeeded, so a name in out/ is always a whole output, even after a kill;
--skip-done leaves files whose outputs are there alone.  Exit status: 0 when
every file succeeded, 1 otherwise, 2 on bad arguments.

FileJob and run_file() are the per-file step; examples/slurm/facekp-slurm.py
runs the same step in each task of a Slurm job array.
"""
import argparse
import json
import os
import signal
import socket
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
PARTIAL_DIR = ".partial"


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


def outputs_for(path, output_dir):
    """(stickered video, JSON lines) that input PATH gets in OUTPUT_DIR."""
    stem, ext = os.path.splitext(os.path.basename(path))
    return (os.path.join(output_dir, f"{stem}.facekp{ext}"),
            os.path.join(output_dir, f"{stem}.jsonl"))


def is_done(path, output_dir):
    """Whether both outputs are in place: they get their names only when whole."""
    return all(os.path.isfile(output) for output in outputs_for(path, output_dir))


def video_files(folder):
    """The video files of a folder (by name ending), sorted, as absolute paths."""
    folder = os.path.abspath(folder)
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS
                  and os.path.isfile(os.path.join(folder, name)))


def default_tag():
    """Names this run's folder under .partial/: unique per process and host."""
    return f"{socket.gethostname()}-{os.getpid()}"


def file_result(path, output_dir, error, frames, seconds):
    """The record of one file that both summaries (batch.py's, the Slurm
    summary job's) are made from."""
    video, jsonl = outputs_for(path, output_dir)
    record = {"input": path, "name": os.path.basename(path), "ok": error is None,
              "error": error, "frames": frames, "seconds": round(seconds, 3),
              "host": socket.gethostname()}
    if error is None:
        lines, with_faces, ids = landmark_summary(jsonl)
        record.update(video=video, landmarks=jsonl, lines=lines, frames_with_faces=with_faces,
                      face_ids=ids)
    return record


def done_result(path, output_dir):
    """The record of a file whose outputs an earlier run left in place."""
    record = file_result(path, output_dir, None, 0, 0.0)
    record["frames"] = record["lines"]
    record["skipped"] = True
    return record


class FileJob:
    """One input through the per-file pipeline (file_to_file.Transcode).

    The video and the JSON lines are written in OUTPUT_DIR/.partial/TAG/ and
    renamed into OUTPUT_DIR when the file succeeded; on failure, or when
    cancelled, they are removed, and so are outputs an earlier run left for the
    same input (they would no longer be what this input gives).  Runs in the
    caller's GLib main loop: start(), then on_done(job) with job.result set.
    """

    def __init__(self, path, output_dir, stickers="default", threads=0, stall_timeout=60.0,
                 on_done=None, tag=None):
        self.input_path = path
        self.output_dir = output_dir
        self.stickers = stickers
        self.threads = threads
        self.stall_timeout = stall_timeout
        self.on_done = on_done
        self.partial_dir = os.path.join(output_dir, PARTIAL_DIR, tag or default_tag())
        self.final = outputs_for(path, output_dir)
        self.temporary = outputs_for(path, self.partial_dir)
        self.transcode = None
        self.result = None
        self.started = None
        self.last_change = None    # ((frames, position), when it last changed)

    @property
    def frames(self):
        return self.transcode.frames if self.transcode is not None else 0

    def progress(self):
        return self.transcode.progress() if self.transcode is not None else (None, None)

    def _remove_leftovers(self):
        """Outputs of this input that a run killed before it could clean up
        (SIGKILL, node loss) left under .partial/, whatever its tag."""
        root = os.path.join(self.output_dir, PARTIAL_DIR)
        names = [os.path.basename(output) for output in self.final]
        # Only files: another process may have just made its own empty
        # folder here and be about to write into it.
        for tag in os.listdir(root) if os.path.isdir(root) else []:
            for name in names:
                try:
                    os.unlink(os.path.join(root, tag, name))
                except (FileNotFoundError, NotADirectoryError):
                    pass

    def start(self):
        self.started = time.monotonic()
        self._remove_leftovers()
        os.makedirs(self.partial_dir, exist_ok=True)
        video, jsonl = self.temporary
        try:
            self.transcode = Transcode(self.input_path, video, stickers=self.stickers,
                                       export=jsonl, threads=self.threads,
                                       on_done=self._transcoded)
        except RuntimeError as error:   # unreadable, unknown container, missing element
            # Reported from the main loop, as every other end is.
            GLib.idle_add(self._finish_once, str(error))
            return
        self.transcode.start()

    def check_stall(self, now):
        """Cancels a file whose pipeline stopped moving (a demuxer stuck on a
        corrupt file must not hold its slot for ever); True if it did."""
        if self.transcode is None or self.result is not None:
            return False
        state = (self.transcode.frames, self.transcode.progress()[0])
        if self.last_change is None or self.last_change[0] != state:
            self.last_change = (state, now)
            return False
        if now - self.last_change[1] > self.stall_timeout:
            self.cancel(f"stalled: no progress for {self.stall_timeout:.0f} s")
            return True
        return False

    def cancel(self, reason):
        if self.transcode is not None:
            self.transcode.cancel(reason)      # calls _transcoded
        elif self.result is None:
            self._finish(reason)

    def _transcoded(self, transcode):
        error = transcode.error
        if error is None:
            try:
                # The JSON lines first: a kill between the two renames leaves
                # no video, so the file counts as not done and is redone.
                os.replace(self.temporary[1], self.final[1])
                os.replace(self.temporary[0], self.final[0])
            except OSError as failure:
                error = f"cannot move the outputs into place: {failure}"
        self._finish(error)

    def _finish_once(self, error):
        self._finish(error)
        return GLib.SOURCE_REMOVE

    def _finish(self, error):
        if self.result is not None:
            return
        if error is not None:
            for path in self.temporary + self.final:
                if os.path.exists(path):
                    os.unlink(path)
        _remove_empty_dir(self.partial_dir)
        self.result = file_result(self.input_path, self.output_dir, error, self.frames,
                                  time.monotonic() - self.started)
        if self.on_done is not None:
            self.on_done(self)


def _remove_empty_dir(path):
    try:
        os.rmdir(path)
    except OSError:   # not empty (another run's files), or already gone
        pass


def remove_empty_partial_dirs(output_dir):
    """Once no file runs any more: .partial/ and its folders, where empty
    (a run killed with SIGKILL leaves its folder; its files go when the
    same input is run again)."""
    root = os.path.join(output_dir, PARTIAL_DIR)
    for tag in os.listdir(root) if os.path.isdir(root) else []:
        _remove_empty_dir(os.path.join(root, tag))
    _remove_empty_dir(root)


def run_file(path, output_dir, stickers="default", threads=0, stall_timeout=60.0, tag=None,
             stop_signals=(signal.SIGTERM, signal.SIGINT)):
    """Runs one file to its end in a main loop of its own and returns its
    record.  Gst.init() must have been called.  A signal of STOP_SIGNALS
    (scancel, a time limit, a requeue send SIGTERM) cancels the file, which
    removes its partial outputs; the record then has 'signal' set."""
    loop = GLib.MainLoop()
    job = FileJob(path, output_dir, stickers, threads, stall_timeout,
                  on_done=lambda _job: loop.quit(), tag=tag)
    stopped = []

    def on_signal(number):
        stopped.append(number)
        job.cancel(f"stopped by {signal.Signals(number).name} after {job.frames} frames")
        return GLib.SOURCE_CONTINUE

    sources = [GLib.unix_signal_add(GLib.PRIORITY_HIGH, number, on_signal, number)
               for number in stop_signals]
    sources.append(GLib.timeout_add(REFRESH_MS, lambda: job.check_stall(time.monotonic()) or True))
    job.start()
    loop.run()
    for source in sources:
        GLib.source_remove(source)
    if stopped:
        job.result["signal"] = stopped[0]
    return job.result


def format_summary(records):
    """The summary table of a list of file records, as lines."""
    lines = [f"{'file':<28} {'result':<8} {'frames':>6} {'faces':>15} {'seconds':>8}  "
             "outputs / reason"]
    failed = 0
    for record in sorted(records, key=lambda r: r["input"]):
        name = record["name"]
        if record["ok"]:
            faces = f"{record['frames_with_faces']}/{record['lines']} ({record['face_ids']} ids)"
            outputs = f"{os.path.basename(record['video'])}, {os.path.basename(record['landmarks'])}"
            if record.get("skipped"):
                outputs += " (done before)"
            lines.append(f"{name:<28} {'ok':<8} {record['frames']:>6} {faces:>15} "
                         f"{record['seconds']:>8.1f}  {outputs}")
        else:
            failed += 1
            lines.append(f"{name:<28} {'FAILED':<8} {record['frames']:>6} {'-':>15} "
                         f"{record['seconds']:>8.1f}  {record['error']}")
    lines.append(f"{len(records) - failed} of {len(records)} files done, {failed} failed")
    return lines


class Batch:
    def __init__(self, inputs, output_dir, jobs, stickers, threads, stall_timeout):
        self.pending = list(inputs)
        self.output_dir = output_dir
        self.jobs = jobs
        self.stickers = stickers
        self.threads = threads
        self.stall_timeout = stall_timeout
        self.running = []
        self.results = []
        self.loop = GLib.MainLoop()
        self.progress = Progress(sys.stdout)
        self.stopped = False

    def start_more(self):
        while self.pending and len(self.running) < self.jobs and not self.stopped:
            job = FileJob(self.pending.pop(0), self.output_dir, self.stickers, self.threads,
                          self.stall_timeout, on_done=self.on_done)
            self.running.append(job)
            job.start()
        if not self.running and (not self.pending or self.stopped):
            self.loop.quit()

    def on_done(self, job):
        self.running.remove(job)
        record = job.result
        self.results.append(record)
        name = record["name"]
        if record["ok"]:
            self.progress.message(f"{name}  done: {record['frames']} frames in "
                                  f"{record['seconds']:.1f} s", sys.stdout)
        else:
            self.progress.message(f"{name}  FAILED: {record['error']}", sys.stderr)
        GLib.idle_add(self.start_more_once)

    def start_more_once(self):
        self.start_more()
        return GLib.SOURCE_REMOVE

    def stop(self, number):
        """Ctrl-C or SIGTERM: running files are cancelled (their partial
        outputs removed), pending ones not started."""
        self.stopped = True
        for job in list(self.running):
            job.cancel(f"stopped by {signal.Signals(number).name}")
        GLib.idle_add(self.start_more_once)
        return GLib.SOURCE_CONTINUE

    def refresh(self):
        rows = []
        now = time.monotonic()
        for job in list(self.running):   # cancelling removes from the list
            if job.check_stall(now):
                continue
            name = os.path.basename(job.input_path)
            position, duration = job.progress()
            elapsed = max(now - job.started, 1e-3)
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
        for number in (signal.SIGINT, signal.SIGTERM):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, number, self.stop, number)
        GLib.idle_add(self.start_more_once)
        self.loop.run()

    def summary(self, skipped):
        print()
        records = self.results + skipped
        for line in format_summary(records):
            print(line)
        return sum(1 for record in records if not record["ok"])


def add_file_options(parser):
    """The per-file step's options, the same for batch.py and the Slurm tasks."""
    parser.add_argument("--stickers", default="default",
                        help="sticker pack name or .ini path (default: default; none for none)")
    parser.add_argument("--stall-timeout", type=float, default=60.0,
                        help="fail a file that makes no progress for this many seconds (default 60)")


def main():
    parser = argparse.ArgumentParser(description="Stickers on every video in a folder, in parallel.")
    parser.add_argument("input_dir")
    parser.add_argument("output_dir")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                        help="files processed at once (default: CPU cores)")
    parser.add_argument("--threads", type=int, default=0,
                        help="facekpfilter threads per file (default: CPU cores / jobs)")
    add_file_options(parser)
    parser.add_argument("--skip-done", action="store_true",
                        help="leave files whose two outputs are already in the output folder")
    args = parser.parse_args()

    if not os.path.isdir(args.input_dir):
        print(f"batch: {args.input_dir} is not a folder", file=sys.stderr)
        return 2
    inputs = video_files(args.input_dir)
    if not inputs:
        print(f"batch: no video files ({', '.join(sorted(VIDEO_EXTENSIONS))}) in {args.input_dir}",
              file=sys.stderr)
        return 2
    output_dir = os.path.abspath(args.output_dir)
    os.makedirs(output_dir, exist_ok=True)
    skipped = []
    if args.skip_done:
        skipped = [done_result(path, output_dir) for path in inputs if is_done(path, output_dir)]
        inputs = [path for path in inputs if not is_done(path, output_dir)]
        if skipped:
            print(f"{len(skipped)} files done before, left as they are")
    cores = os.cpu_count() or 1
    jobs = max(1, min(args.jobs, len(inputs) or 1))
    threads = args.threads if args.threads > 0 else max(1, cores // jobs)
    print(f"{len(inputs)} files, {jobs} at a time, {threads} thread(s) each")

    Gst.init(None)
    batch = Batch(inputs, output_dir, jobs, args.stickers, threads, args.stall_timeout)
    if inputs:
        batch.run()
    remove_empty_partial_dirs(output_dir)
    return 1 if batch.summary(skipped) or batch.stopped else 0


if __name__ == "__main__":
    sys.exit(main())

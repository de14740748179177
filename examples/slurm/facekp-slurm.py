#!/usr/bin/python3
"""Stickers and landmarks for a folder of videos on a Slurm cluster: one job
array, one task per file (or per shard of files), then a summary job.

    facekp-slurm.py submit /shared/videos /shared/out
    facekp-slurm.py submit --threads 4 --max-running 20 --files-per-task 5 \\
        --sbatch-option=--partition=cpu --sbatch-option=--time=02:00:00 list.txt /shared/out

Each task runs the per-file step of examples/batch.py (FileJob: the same
pipeline, outputs and checks as batch.py and file_to_file.py), so for
/shared/videos/NAME.EXT it writes /shared/out/NAME.facekp.EXT and
/shared/out/NAME.jsonl, first under /shared/out/.partial/ and renamed into place
when the file succeeded.  A file whose two outputs are there is done: a
re-submission leaves it alone and submits only the others.  The summary job
(--dependency=afterany on the array) writes /shared/out/summary.txt and
summary.json: per file ok or failed (with the error line), frames, faces,
seconds, node.

Everything lives on a filesystem that every node mounts at the same path: the
inputs, the output folder, this script and examples/ beside it.  The job gets
the environment of the shell that ran `submit` (sbatch --export=ALL); the nodes
find facekpfilter where GStreamer looks by default (the installed package) or
through GST_PLUGIN_PATH exported before `submit`.  docs/batch.md has the whole
story.

The other commands are what the jobs run:

    facekp-slurm.py task RUN_DIR        (one array task: SLURM_ARRAY_TASK_ID)
    facekp-slurm.py summary RUN_DIR     (the summary job; also safe to run by hand)

Exit status: submit 0 once both jobs are queued (or every file was done
already), 1 when sbatch refused, 2 on bad arguments; task 0 when each of its
files succeeded, 1 when one failed, 128 + N when stopped by signal N; summary 0
when every file is done, 1 otherwise.
"""
import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import batch  # noqa: E402  (examples/batch.py: the per-file step)
from batch import Gst  # noqa: E402

SCRIPT = os.path.abspath(__file__)


def write_atomically(path, text):
    """Readers (the summary, a user) see the old file or the new one, never half."""
    temporary = f"{path}.{socket.gethostname()}-{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)


def read_lines(path):
    with open(path, encoding="utf-8") as lines:
        return [line.rstrip("\n") for line in lines if line.strip()]


def inputs_of(source):
    """Absolute paths of the videos: a folder's video files, or the lines of a
    list file (blank lines and # comments skipped; relative paths are taken
    from the list's folder)."""
    if os.path.isdir(source):
        return batch.video_files(source)
    base = os.path.dirname(os.path.abspath(source))
    paths = []
    for line in read_lines(source):
        line = line.strip()
        if not line.startswith("#"):
            paths.append(os.path.normpath(os.path.join(base, line)))
    return paths


def results_dir(output_dir):
    return os.path.join(output_dir, "slurm", "results")


def result_path(output_dir, path):
    return os.path.join(results_dir(output_dir), os.path.basename(path) + ".json")


# -- submit ----------------------------------------------------------------------

def sbatch(arguments, dry_run):
    """Submits with sbatch and returns the job id ('DRY-RUN' when only printing)."""
    command = ["sbatch", "--parsable", *arguments]
    print("$ " + " ".join(shlex.quote(word) for word in command), flush=True)
    if dry_run:
        return "DRY-RUN"
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise SystemExit("facekp-slurm: sbatch not found: run this on a Slurm login node") from None
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(1)
    return result.stdout.strip().split(";")[0]


def submit(args):
    if not os.path.exists(args.inputs):
        print(f"facekp-slurm: {args.inputs} does not exist", file=sys.stderr)
        return 2
    inputs = inputs_of(args.inputs)
    if not inputs:
        print(f"facekp-slurm: no video files in {args.inputs}", file=sys.stderr)
        return 2
    # Two inputs with the same stem (a.avi, a.mkv) would write the same
    # a.jsonl from two tasks at once.
    stems = {}
    for path in inputs:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in stems:
            print(f"facekp-slurm: {stems[stem]} and {path} would write the same outputs "
                  f"({stem}.jsonl): rename one", file=sys.stderr)
            return 2
        stems[stem] = path
    if args.threads < 1 or args.files_per_task < 1 or args.max_running < 0:
        print("facekp-slurm: --threads and --files-per-task must be at least 1", file=sys.stderr)
        return 2

    output_dir = os.path.abspath(args.output_dir)
    pending = [path for path in inputs if args.redo or not batch.is_done(path, output_dir)]
    run_dir = os.path.join(output_dir, "slurm", time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}")
    os.makedirs(os.path.join(run_dir, "logs"))
    os.makedirs(results_dir(output_dir), exist_ok=True)
    settings = {"output_dir": output_dir, "stickers": args.stickers, "threads": args.threads,
                "files_per_task": args.files_per_task, "stall_timeout": args.stall_timeout,
                "redo": args.redo, "submitted": time.time()}
    write_atomically(os.path.join(run_dir, "inputs.txt"), "".join(p + "\n" for p in inputs))
    write_atomically(os.path.join(run_dir, "pending.txt"), "".join(p + "\n" for p in pending))
    write_atomically(os.path.join(run_dir, "settings.json"), json.dumps(settings, indent=1) + "\n")

    done = len(inputs) - len(pending)
    if not pending:
        print(f"all {len(inputs)} files are done already; summary only")
        return summarise(run_dir)
    tasks = (len(pending) + args.files_per_task - 1) // args.files_per_task
    array = f"0-{tasks - 1}" + (f"%{args.max_running}" if args.max_running else "")
    python = shlex.quote(args.python)
    common = ["--export=ALL", f"--chdir={run_dir}", *args.sbatch_option]
    array_job = sbatch(
        [f"--job-name={args.job_name}", f"--array={array}", f"--cpus-per-task={args.threads}",
         "--ntasks=1", "--requeue", "--open-mode=append",
         f"--output={run_dir}/logs/task-%A_%a.out", *common,
         f"--wrap=exec {python} {shlex.quote(SCRIPT)} task {shlex.quote(run_dir)}"],
        args.dry_run)
    summary_job = sbatch(
        [f"--job-name={args.job_name}-summary", f"--dependency=afterany:{array_job}",
         "--cpus-per-task=1", "--ntasks=1", f"--output={run_dir}/logs/summary-%j.out", *common,
         f"--wrap=exec {python} {shlex.quote(SCRIPT)} summary {shlex.quote(run_dir)}"],
        args.dry_run)
    write_atomically(os.path.join(run_dir, "jobs.txt"), f"{array_job}\n{summary_job}\n")
    print(f"{len(inputs)} files: {done} done before, {len(pending)} submitted")
    print(f"array job {array_job}: {tasks} tasks of up to {args.files_per_task} file(s), "
          f"{args.max_running or 'no limit on how many'} at a time, {args.threads} CPU(s) each")
    print(f"summary job {summary_job} -> {os.path.join(output_dir, 'summary.txt')}")
    print(f"logs: {run_dir}/logs/")
    return 0


# -- task ------------------------------------------------------------------------

def slurm_task_name():
    job = os.environ.get("SLURM_ARRAY_JOB_ID")
    index = os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{job}_{index}" if job and index else os.environ.get("SLURM_JOB_ID")


def task(args):
    with open(os.path.join(args.run_dir, "settings.json"), encoding="utf-8") as settings_file:
        settings = json.load(settings_file)
    pending = read_lines(os.path.join(args.run_dir, "pending.txt"))
    index = args.index if args.index is not None else os.environ.get("SLURM_ARRAY_TASK_ID")
    if index is None:
        print("facekp-slurm task: no SLURM_ARRAY_TASK_ID (give --index)", file=sys.stderr)
        return 2
    per_task = settings["files_per_task"]
    shard = pending[int(index) * per_task:(int(index) + 1) * per_task]
    if not shard:
        print(f"facekp-slurm task: index {index} is past the {len(pending)} files", file=sys.stderr)
        return 2
    output_dir = settings["output_dir"]
    # One partial folder per Slurm job id: a requeued task is the same job,
    # and the file's leftovers are cleared before it starts again anyway.
    tag = f"job{os.environ['SLURM_JOB_ID']}" if "SLURM_JOB_ID" in os.environ else None
    host = socket.gethostname()
    print(f"task {slurm_task_name() or index} on {host}: {len(shard)} file(s), "
          f"{settings['threads']} thread(s), restart {os.environ.get('SLURM_RESTART_COUNT', '0')}",
          flush=True)

    Gst.init(None)
    failed = 0
    for path in shard:
        if not settings["redo"] and batch.is_done(path, output_dir):
            # Done by an earlier run of this task (a requeue after the file ended).
            print(f"{os.path.basename(path)}  done before", flush=True)
            if not os.path.exists(result_path(output_dir, path)):
                write_atomically(result_path(output_dir, path),
                                 json.dumps(batch.done_result(path, output_dir)) + "\n")
            continue
        record = batch.run_file(path, output_dir, settings["stickers"], settings["threads"],
                                settings["stall_timeout"], tag=tag)
        record["slurm_task"] = slurm_task_name()
        record["log"] = os.path.join(args.run_dir, "logs",
                                     f"task-{os.environ.get('SLURM_ARRAY_JOB_ID', '')}_{index}.out")
        write_atomically(result_path(output_dir, path), json.dumps(record) + "\n")
        if record["ok"]:
            print(f"{record['name']}  done: {record['frames']} frames in {record['seconds']:.1f} s",
                  flush=True)
        else:
            failed += 1
            print(f"{record['name']}  FAILED: {record['error']}", file=sys.stderr, flush=True)
        if "signal" in record:
            return 128 + record["signal"]
    return 1 if failed else 0


# -- summary -----------------------------------------------------------------------

def summarise(run_dir):
    with open(os.path.join(run_dir, "settings.json"), encoding="utf-8") as settings_file:
        settings = json.load(settings_file)
    output_dir = settings["output_dir"]
    records = []
    for path in read_lines(os.path.join(run_dir, "inputs.txt")):
        record = None
        try:
            with open(result_path(output_dir, path), encoding="utf-8") as result_file:
                record = json.load(result_file)
        except (OSError, ValueError):
            pass
        if record is not None and record.get("input") != path:
            record = None     # another input of the same name, from another submission
        if record is None and batch.is_done(path, output_dir):
            record = batch.done_result(path, output_dir)
        elif record is None:
            record = batch.file_result(path, output_dir, "no result: its task did not finish "
                                       "(cancelled, killed, out of time or not run); see "
                                       f"{run_dir}/logs/, then submit again", 0, 0.0)
        elif record["ok"] and not batch.is_done(path, output_dir):
            record = batch.file_result(path, output_dir, "its outputs are no longer there",
                                       0, 0.0)
        records.append(record)
    lines = batch.format_summary(records)
    failed = sum(1 for record in records if not record["ok"])
    elapsed = time.time() - settings["submitted"]
    header = (f"facekp on Slurm: {len(records)} files into {output_dir}; "
              f"{elapsed:.0f} s from submission to this summary\n\n")
    write_atomically(os.path.join(output_dir, "summary.txt"), header + "\n".join(lines) + "\n")
    write_atomically(os.path.join(output_dir, "summary.json"), json.dumps(
        {"files": len(records), "ok": len(records) - failed, "failed": failed,
         "seconds_since_submission": round(elapsed, 1), "run_dir": run_dir,
         "records": records}, indent=1) + "\n")
    batch.remove_empty_partial_dirs(output_dir)
    sys.stdout.write(header + "\n".join(lines) + "\n")
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description="facekp over a folder of videos on Slurm.")
    commands = parser.add_subparsers(dest="command", required=True)
    submit_parser = commands.add_parser("submit", help="submit the array and its summary job")
    submit_parser.add_argument("inputs", help="a folder of videos, or a file listing one per line")
    submit_parser.add_argument("output_dir")
    submit_parser.add_argument("--threads", type=int, default=2,
                               help="facekpfilter threads per file = --cpus-per-task (default 2)")
    submit_parser.add_argument("--files-per-task", type=int, default=1,
                               help="files each array task runs, one after the other (default 1)")
    submit_parser.add_argument("--max-running", type=int, default=0,
                               help="tasks running at once, the array's %%N (default: no limit)")
    batch.add_file_options(submit_parser)
    submit_parser.add_argument("--redo", action="store_true",
                               help="run every file again, done or not")
    submit_parser.add_argument("--job-name", default="facekp")
    submit_parser.add_argument("--python", default=sys.executable,
                               help="the interpreter on the nodes (default: this one, %(default)s)")
    submit_parser.add_argument("--sbatch-option", action="append", default=[],
                               help="passed to both sbatch calls, e.g. --sbatch-option=--partition=cpu")
    submit_parser.add_argument("--dry-run", action="store_true",
                               help="write the run folder and print the sbatch commands only")
    task_parser = commands.add_parser("task", help="run one array task (inside Slurm)")
    task_parser.add_argument("run_dir")
    task_parser.add_argument("--index", type=int, help="the array index (default: from Slurm)")
    summary_parser = commands.add_parser("summary", help="write summary.txt and summary.json")
    summary_parser.add_argument("run_dir")
    args = parser.parse_args()
    if args.command == "submit":
        return submit(args)
    if args.command == "task":
        return task(args)
    return summarise(args.run_dir)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""examples/slurm/facekp-slurm.py on a real one-node Slurm cluster.

    test-slurm.py --source-dir SRC --build-dir BUILD --work-dir DIR

Starts munged (its own key, socket and pid file), slurmctld and slurmd with a
slurm.conf generated in a temporary folder (ports above 1024, the node named
by `hostname -s`, SLURM_CONF exported to every command), then:

1. submits three short clips and a broken file as a job array; every output
   must equal, byte for byte, what one local process (examples/batch.py
   --jobs 1, the same threads) writes; the broken file's task alone fails,
   with the reference's error line; the summary job's counts, frames and
   faces agree with the outputs;
2. submits three longer clips and a short one, and mid-file cancels one task
   (scancel: SIGTERM), kills another's process with SIGKILL (no chance to
   clean up, as on node loss or the OOM killer) and requeues a third
   (scontrol requeue): the
   cancelled file leaves no output, partial or final; the killed one no
   final output; the requeued one completes in the same submission; a
   re-submission runs only the cancelled and killed files, clears what the
   kill left, and everything then equals the local outputs.

Everything started is stopped at the end by PID, on failure too.  Exit 77
(skipped) when the Slurm or MUNGE programs are not installed.
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
DAEMONS = ["munged", "slurmctld", "slurmd"]
CLIENTS = ["sbatch", "squeue", "scancel", "scontrol", "sinfo"]
THREADS = 1              # facekpfilter threads = --cpus-per-task
FRAMES_LONG = 20         # the clips stopped mid-file
WAIT_SECONDS = 150       # for any one submission to finish


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def free_tcp_ports(count):
    """Ports the kernel has free now (bound all at once, so distinct)."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


# -- the cluster ---------------------------------------------------------------------

class Cluster:
    """munged, slurmctld and slurmd in a folder of their own."""

    def __init__(self, root):
        self.root = root
        self.conf = os.path.join(root, "slurm.conf")
        self.socket = os.path.join(root, "munge.socket")
        self.daemons = []          # (name, Popen), in start order
        self.node = socket.gethostname().split(".")[0]
        self.env = dict(os.environ, SLURM_CONF=self.conf)

    def _start(self, name, command):
        output = open(os.path.join(self.root, f"{name}.out"), "wb")
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=self.env,
                                   start_new_session=True)
        output.close()
        self.daemons.append((name, process))
        log(f"{name} started, pid {process.pid}")
        return process

    def _wait_for(self, what, ready, seconds=30):
        deadline = time.monotonic() + seconds
        while not ready():
            for name, process in self.daemons:
                if process.poll() is not None:
                    raise Failure(f"{name} exited with {process.returncode} while waiting for {what}")
            if time.monotonic() > deadline:
                raise Failure(f"no {what} after {seconds} s")
            time.sleep(0.2)

    def write_conf(self, cpus):
        user = "root" if os.geteuid() == 0 else os.environ.get("USER") or str(os.geteuid())
        ctld_port, slurmd_port = free_tcp_ports(2)
        for folder in ("state", "spool"):
            os.makedirs(os.path.join(self.root, folder), exist_ok=True)
        r = self.root
        settings = [
            "ClusterName=facekptest",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={ctld_port}", f"SlurmdPort={slurmd_port}",
            f"SlurmUser={user}", f"SlurmdUser={user}",
            # cred_expire is also how long a requeued job waits before it may
            # start again (120 s by default).
            "AuthType=auth/munge", "CredType=cred/munge",
            f"AuthInfo=socket={self.socket},cred_expire=10",
            f"StateSaveLocation={r}/state", f"SlurmdSpoolDir={r}/spool",
            f"SlurmctldPidFile={r}/slurmctld.pid", f"SlurmdPidFile={r}/slurmd.pid",
            f"SlurmctldLogFile={r}/slurmctld.log", f"SlurmdLogFile={r}/slurmd.log",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU",
            # The scheduler also runs on a timer (60 s by default): a requeued
            # job becomes eligible with no event to start it.
            "SchedulerType=sched/builtin", "SchedulerParameters=sched_interval=2",
            "MpiDefault=none", "MailProg=/bin/true",
            "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
            "ReturnToService=2",
            # scancel: SIGTERM, then SIGKILL this many seconds later.
            "KillWait=10",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN",
            f"PartitionName=test Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
        ]
        with open(self.conf, "w", encoding="utf-8") as conf:
            conf.write("\n".join(settings) + "\n")

    def start(self, cpus):
        began = time.monotonic()
        # munged wants its socket's folder open to everyone (clients of every
        # user connect); traversal is enough.
        os.chmod(self.root, 0o711)
        key = os.path.join(self.root, "munge.key")
        with open(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as key_file:
            key_file.write(os.urandom(1024))
        self._start("munged", ["munged", "--foreground", f"--socket={self.socket}",
                               f"--key-file={key}", f"--pid-file={self.root}/munged.pid",
                               f"--log-file={self.root}/munged.log",
                               f"--seed-file={self.root}/munged.seed"])
        self._wait_for("munge socket", lambda: os.path.exists(self.socket))
        self.write_conf(cpus)
        self._start("slurmctld", ["slurmctld", "-D", "-i"])
        self._start("slurmd", ["slurmd", "-D"])
        self._wait_for("idle node", lambda: self.slurm("sinfo", "-h", "-N", "-o", "%T",
                                                        check_status=False).strip() == "idle")
        log(f"cluster up in {time.monotonic() - began:.1f} s: node {self.node}, {cpus} CPUs")

    def slurm(self, *command, check_status=True):
        result = subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=60)
        if check_status and result.returncode != 0:
            raise Failure(f"{' '.join(command)} exited with {result.returncode}: {result.stderr}")
        return result.stdout

    def jobs(self, job_id):
        """{array index or None: (state, exit code)} of a job and its array tasks."""
        states = {}
        for line in self.slurm("scontrol", "-o", "show", "job", job_id).splitlines():
            fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
            index = fields.get("ArrayTaskId")
            states[int(index) if index and index.isdigit() else None] = (
                fields.get("JobState"), fields.get("ExitCode"))
        return states

    def wait_ended(self, *job_ids, seconds=WAIT_SECONDS):
        deadline = time.monotonic() + seconds
        while True:
            running = self.slurm("squeue", "-h", "-j", ",".join(job_ids), "-o", "%i %T",
                                 check_status=False).strip()
            if not running:
                return
            if time.monotonic() > deadline:
                raise Failure(f"jobs still queued or running after {seconds} s:\n{running}")
            time.sleep(0.5)

    def _processes(self, *markers):
        """PIDs of the processes (other than this one) whose environment
        holds every one of MARKERS."""
        wanted = {marker.encode() for marker in markers}
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    if wanted <= set(environ.read().split(b"\0")):
                        pids.append(int(entry))
            except OSError:
                pass
        return pids

    def task_process(self, array, index):
        """PID of the program an array task runs (the batch script execs it)."""
        pids = self._processes(f"SLURM_CONF={self.conf}", f"SLURM_ARRAY_JOB_ID={array}",
                               f"SLURM_ARRAY_TASK_ID={index}")
        programs = [pid for pid in pids if b"facekp-slurm.py" in open(f"/proc/{pid}/cmdline", "rb").read()]
        check(len(programs) == 1, f"task {array}_{index}: processes {pids}, programs {programs}")
        return programs[0]

    def _leftover_processes(self):
        """Processes started for jobs (they carry our SLURM_CONF), once the
        daemons are gone."""
        return self._processes(f"SLURM_CONF={self.conf}")

    def stop(self):
        """Cancels what is queued, stops the daemons, then kills by PID any
        process left that was started for a job."""
        if any(process.poll() is None for name, process in self.daemons if name == "slurmctld"):
            ids = sorted(set(self.slurm("squeue", "-h", "-o", "%A", check_status=False).split()))
            if ids:
                self.slurm("scancel", *ids, check_status=False)
                try:
                    self.wait_ended(*ids, seconds=20)
                except Failure as failure:
                    log(f"while stopping: {failure}")
        for name, process in reversed(self.daemons):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    log(f"{name} did not stop on SIGTERM: SIGKILL")
                    process.kill()
                    process.wait()
            log(f"{name} (pid {process.pid}) stopped")
        for pid in self._leftover_processes():
            log(f"killing leftover process {pid}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def dump_logs(self):
        for name in ("munged.out", "munged.log", "slurmctld.out", "slurmctld.log", "slurmd.out",
                     "slurmd.log"):
            path = os.path.join(self.root, name)
            if os.path.exists(path):
                with open(path, errors="replace") as text:
                    lines = text.readlines()[-15:]
                print(f"--- last lines of {name} ---\n" + "".join(lines), flush=True)


# -- media and references ----------------------------------------------------------------

def gst_launch(*pipeline):
    result = subprocess.run(["gst-launch-1.0", "-q", *pipeline], capture_output=True, text=True,
                            timeout=120)
    if result.returncode != 0:
        raise Failure(f"gst-launch-1.0 {' '.join(pipeline)} failed:\n{result.stdout}{result.stderr}")


class Media:
    def __init__(self, source_dir, work_dir):
        self.frames = os.path.join(work_dir, "sample-frames")
        os.makedirs(self.frames)
        gst_launch("filesrc", f"location={os.path.join(source_dir, 'examples', 'media', 'sample.avi')}",
                   "!", "avidemux", "!", "multifilesink", f"location={self.frames}/%03d.jpg")
        self.available = len(os.listdir(self.frames))

    def clip(self, path, first, count):
        """An MJPEG AVI of COUNT frames of the sample from FIRST (15 fps)."""
        check(first + count <= self.available, f"the sample has {self.available} frames")
        gst_launch("multifilesrc", f"location={self.frames}/%03d.jpg", f"index={first}",
                   f"stop-index={first + count - 1}", "caps=image/jpeg,framerate=15/1", "!",
                   "jpegdec", "!", "jpegenc", "quality=90", "!", "avimux", "!", "filesink",
                   f"location={path}")
        return path


def broken_file(path):
    with open(path, "wb") as broken:
        broken.write(b"RIFF\x10\x00\x00\x00AVI LIST" + bytes(range(256)) * 8)
    return path


def run_local(args, folder, output):
    """The reference: the same files through batch.py, one process, one file at a time."""
    command = ["/usr/bin/python3", os.path.join(args.examples, "batch.py"), "--jobs", "1",
               "--threads", str(THREADS), folder, output]
    began = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    log(f"local reference {os.path.basename(folder)}: {time.monotonic() - began:.1f} s, "
        f"exit {result.returncode}")
    sys.stdout.write(result.stdout + result.stderr)
    errors = {}
    for line in result.stdout.splitlines():
        match = re.match(r"(\S+)\s+FAILED\s+\d+\s+-\s+[\d.]+\s+(.*)$", line)
        if match:
            errors[match.group(1)] = match.group(2)
    return result.returncode, errors


def submit(args, cluster, folder, output, *extra):
    command = ["/usr/bin/python3", os.path.join(args.examples, "slurm", "facekp-slurm.py"), "submit",
               "--threads", str(THREADS), "--python", "/usr/bin/python3", *extra, folder, output]
    result = subprocess.run(command, capture_output=True, text=True, env=cluster.env, timeout=60)
    sys.stdout.write("$ " + " ".join(command) + "\n" + result.stdout + result.stderr)
    check(result.returncode == 0, f"submit exited with {result.returncode}")
    array = re.search(r"^array job (\d+):", result.stdout, re.M)
    summary = re.search(r"^summary job (\d+)", result.stdout, re.M)
    check(array and summary, "submit printed no job ids")
    run_dir = re.search(r"^logs: (.*)/logs/$", result.stdout, re.M).group(1)
    return array.group(1), summary.group(1), run_dir, result.stdout


def read_bytes(path):
    with open(path, "rb") as data:
        return data.read()


def faces_of(jsonl):
    """(lines, lines with a face, distinct ids), counted here from the reference."""
    lines = with_faces = 0
    ids = set()
    with open(jsonl, encoding="utf-8") as records:
        for line in records:
            faces = json.loads(line)["faces"]
            lines += 1
            with_faces += bool(faces)
            ids.update(face["id"] for face in faces)
    return lines, with_faces, len(ids)


def check_same_outputs(name, output, reference, frames):
    """OUTPUT's two files for clip NAME are the reference's, byte for byte."""
    stem = os.path.splitext(name)[0]
    for produced in (f"{stem}.facekp.avi", f"{stem}.jsonl"):
        ours, theirs = os.path.join(output, produced), os.path.join(reference, produced)
        check(os.path.isfile(theirs), f"the local run wrote no {produced}")
        check(os.path.isfile(ours), f"the Slurm run wrote no {produced}")
        check(read_bytes(ours) == read_bytes(theirs),
              f"{produced}: the Slurm output differs from the local one "
              f"({os.path.getsize(ours)} and {os.path.getsize(theirs)} bytes)")
    lines = faces_of(os.path.join(reference, f"{stem}.jsonl"))[0]
    check(lines == frames, f"{stem}.jsonl: {lines} lines for a {frames}-frame clip")


def summary_records(output):
    with open(os.path.join(output, "summary.json"), encoding="utf-8") as summary:
        data = json.load(summary)
    return data, {record["name"]: record for record in data["records"]}


def check_summary_record(record, reference, frames):
    stem = os.path.splitext(record["name"])[0]
    lines, with_faces, ids = faces_of(os.path.join(reference, f"{stem}.jsonl"))
    check(record["ok"], f"summary: {record['name']} failed: {record['error']}")
    check(record["frames"] == frames and record["lines"] == lines,
          f"summary: {record['name']} {record['frames']} frames, {record['lines']} lines; "
          f"expected {frames}")
    check((record["frames_with_faces"], record["face_ids"]) == (with_faces, ids),
          f"summary: {record['name']} faces {record['frames_with_faces']} ({record['face_ids']} "
          f"ids), the outputs have {with_faces} ({ids} ids)")
    check(record["seconds"] > 0, f"summary: {record['name']} has no wall time")


def partial_files(output):
    return sorted(os.path.relpath(path, output)
                  for path in glob.glob(os.path.join(output, ".partial", "**"), recursive=True)
                  if os.path.isfile(path))


def outputs_named(output, stem):
    return sorted(name for name in os.listdir(output) if name.startswith(stem + "."))


# -- the two cases ------------------------------------------------------------------------

def case_array(args, cluster, media):
    """Three clips and a broken file: outputs equal the local ones, the broken one fails alone."""
    folder = os.path.join(args.work_dir, "videos")
    os.makedirs(folder)
    clips = {"a.avi": (0, 5), "b.avi": (10, 6), "c.avi": (20, 7)}
    for name, (first, count) in clips.items():
        media.clip(os.path.join(folder, name), first, count)
    broken_file(os.path.join(folder, "broken.avi"))
    reference = os.path.join(args.work_dir, "local-out")
    status, local_errors = run_local(args, folder, reference)
    check(status == 1 and "broken.avi" in local_errors,
          f"the local run exited with {status}, failures {local_errors}")

    output = os.path.join(args.work_dir, "slurm-out")
    began = time.monotonic()
    array, summary, run_dir, _ = submit(args, cluster, folder, output, "--max-running", "2")
    cluster.wait_ended(array, summary)
    log(f"case 1: array and summary done in {time.monotonic() - began:.1f} s after submission")

    pending = [os.path.basename(line.strip()) for line in open(os.path.join(run_dir, "pending.txt"))]
    check(sorted(pending) == sorted(list(clips) + ["broken.avi"]), f"pending files {pending}")
    states = cluster.jobs(array)
    check(sorted(index for index in states if index is not None) == list(range(len(pending))),
          f"array tasks {states}")
    for index, name in enumerate(pending):
        state, exit_code = states[index]
        expected = ("FAILED", "1:0") if name == "broken.avi" else ("COMPLETED", "0:0")
        check((state, exit_code) == expected,
              f"task {index} ({name}): {state} exit {exit_code}, expected {expected}")
    check(cluster.jobs(summary)[None][0] == "FAILED", "the summary job did not report the failure")

    for name, (_, count) in clips.items():
        check_same_outputs(name, output, reference, count)
    check(outputs_named(output, "broken") == [], f"outputs left for broken.avi: "
          f"{outputs_named(output, 'broken')}")
    check(partial_files(output) == [], f"partial files left: {partial_files(output)}")

    data, records = summary_records(output)
    check((data["files"], data["ok"], data["failed"]) == (4, 3, 1),
          f"summary counts: {data['files']} files, {data['ok']} ok, {data['failed']} failed")
    for name, (_, count) in clips.items():
        check_summary_record(records[name], reference, count)
    check(records["broken.avi"]["error"] == local_errors["broken.avi"],
          f"broken.avi's error {records['broken.avi']['error']!r}, the local run's "
          f"{local_errors['broken.avi']!r}")
    with open(os.path.join(output, "summary.txt"), encoding="utf-8") as text:
        summary_text = text.read()
    print(summary_text)
    check("3 of 4 files done, 1 failed" in summary_text, "summary.txt totals")
    broken_index = pending.index("broken.avi")
    with open(os.path.join(run_dir, "logs", f"task-{array}_{broken_index}.out")) as task_log:
        check(f"broken.avi  FAILED: {local_errors['broken.avi']}" in task_log.read(),
              "the broken file's task log does not say why it failed")


def wait_mid_file(output, stem, seconds=90):
    """Waits until a task has written part of STEM's landmarks under .partial/."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in glob.glob(os.path.join(output, ".partial", "*", f"{stem}.jsonl")):
            try:
                with open(path, encoding="utf-8") as partial:
                    if partial.readline().endswith("\n"):
                        return path
            except OSError:
                pass
        time.sleep(0.1)
    raise Failure(f"{stem}: no partial landmarks within {seconds} s")


def task_index(run_dir, name):
    return [os.path.basename(line.strip())
            for line in open(os.path.join(run_dir, "pending.txt"))].index(name)


def case_cancel(args, cluster, media):
    """scancel, scancel --signal=KILL and scontrol requeue mid-file, then a re-submission."""
    folder = os.path.join(args.work_dir, "videos-cancel")
    os.makedirs(folder)
    clips = {"long.avi": (0, FRAMES_LONG), "killed.avi": (8, FRAMES_LONG),
             "requeued.avi": (15, FRAMES_LONG), "short.avi": (5, 4)}
    for name, (first, count) in clips.items():
        media.clip(os.path.join(folder, name), first, count)
    reference = os.path.join(args.work_dir, "local-out-cancel")
    status, local_errors = run_local(args, folder, reference)
    check(status == 0, f"the local run exited with {status}: {local_errors}")

    output = os.path.join(args.work_dir, "slurm-out-cancel")
    began = time.monotonic()
    array, summary, run_dir, _ = submit(args, cluster, folder, output)
    long_task = f"{array}_{task_index(run_dir, 'long.avi')}"
    requeued_task = f"{array}_{task_index(run_dir, 'requeued.avi')}"

    partial = wait_mid_file(output, "long")
    lines = sum(1 for _ in open(partial))
    cluster.slurm("scancel", long_task)
    log(f"scancel {long_task} with {lines} of {FRAMES_LONG} frames written to {partial}")
    killed_task = f"{array}_{task_index(run_dir, 'killed.avi')}"
    killed_partial = wait_mid_file(output, "killed")
    pid = cluster.task_process(array, task_index(run_dir, "killed.avi"))
    os.kill(pid, signal.SIGKILL)
    log(f"SIGKILL to {killed_task} (pid {pid}) with {killed_partial} part written")
    requeue_partial = wait_mid_file(output, "requeued")
    cluster.slurm("scontrol", "requeue", requeued_task)
    log(f"scontrol requeue {requeued_task} with {requeue_partial} part written")
    cluster.wait_ended(array, summary)
    log(f"case 2: first submission done in {time.monotonic() - began:.1f} s")

    states = cluster.jobs(array)
    long_state = states[task_index(run_dir, "long.avi")][0]
    check(long_state == "CANCELLED", f"{long_task} ended {long_state}")
    check(outputs_named(output, "long") == [],
          f"the cancelled task left outputs: {outputs_named(output, 'long')}")
    killed_state = states[task_index(run_dir, "killed.avi")][0]
    check(killed_state != "COMPLETED", f"{killed_task} ended {killed_state}")
    check(outputs_named(output, "killed") == [],
          f"the killed task left outputs: {outputs_named(output, 'killed')}")
    # SIGKILL leaves the killed file's partial outputs, and nothing else.
    leftovers = partial_files(output)
    check(leftovers and all(os.path.basename(path).startswith("killed.") for path in leftovers),
          f"partial files after the first submission: {leftovers}")
    log(f"{killed_task} ended {killed_state}, left {leftovers}")
    data, records = summary_records(output)
    check(not records["long.avi"]["ok"] and "SIGTERM" in records["long.avi"]["error"],
          f"summary for the cancelled file: {records['long.avi']}")
    check(not records["killed.avi"]["ok"] and "no result" in records["killed.avi"]["error"],
          f"summary for the killed file: {records['killed.avi']}")
    log(f"cancelled file in the summary: {records['long.avi']['error']}")
    log(f"killed file in the summary: {records['killed.avi']['error']}")
    requeued = cluster.slurm("scontrol", "-o", "show", "job", requeued_task)
    check("Restarts=1" in requeued and "JobState=COMPLETED" in requeued,
          f"the requeued task: {requeued.strip()}")
    check_same_outputs("requeued.avi", output, reference, clips["requeued.avi"][1])
    check_same_outputs("short.avi", output, reference, clips["short.avi"][1])
    short_video = os.path.join(output, "short.facekp.avi")
    short_stamp = os.stat(short_video).st_mtime_ns

    began = time.monotonic()
    array, summary, run_dir, printed = submit(args, cluster, folder, output)
    check("2 done before, 2 submitted" in printed, "the re-submission did not skip the done files")
    cluster.wait_ended(array, summary)
    log(f"case 2: re-submission done in {time.monotonic() - began:.1f} s")
    states = cluster.jobs(array)
    check(states == {0: ("COMPLETED", "0:0"), 1: ("COMPLETED", "0:0")},
          f"re-submitted tasks: {states}")
    for name, (_, count) in clips.items():
        check_same_outputs(name, output, reference, count)
    check(os.stat(short_video).st_mtime_ns == short_stamp, "the re-submission rewrote a done file")
    check(partial_files(output) == [], f"partial files left: {partial_files(output)}")
    data, records = summary_records(output)
    check((data["files"], data["ok"], data["failed"]) == (4, 4, 0),
          f"summary after the re-submission: {data['ok']} ok, {data['failed']} failed")
    for name, (_, count) in clips.items():
        check_summary_record(records[name], reference, count)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args()
    args.examples = os.path.join(args.source_dir, "examples")

    missing = [name for name in DAEMONS + CLIENTS if shutil.which(name) is None]
    if missing:
        print(f"SKIP: not installed: {', '.join(missing)} (scripts/install-deps.sh test)")
        return SKIP
    plugin = os.path.join(args.build_dir, "gst-plugin", "element", "libgstfacekp.so")
    if not os.path.exists(plugin):
        print(f"FAIL: the facekp plugin is not built ({plugin} is missing)")
        return 1
    shutil.rmtree(args.work_dir, ignore_errors=True)
    os.makedirs(args.work_dir)
    # The jobs get this environment (sbatch --export=ALL): the plugin from the
    # build tree, one registry for this test.
    os.environ["GST_PLUGIN_PATH"] = os.path.join(args.build_dir, "gst-plugin")
    os.environ["GST_REGISTRY"] = os.path.join(args.work_dir, "registry.bin")

    # meson ends a test that runs too long with SIGTERM: stop the cluster then too.
    def on_term(number, _frame):
        raise Failure(f"stopped by signal {number}")
    signal.signal(signal.SIGTERM, on_term)

    began = time.monotonic()
    cluster = Cluster(tempfile.mkdtemp(prefix="facekp-slurm-"))
    status = 1
    try:
        cpus = max(2, len(os.sched_getaffinity(0)))
        media = Media(args.source_dir, args.work_dir)
        cluster.start(min(cpus, 4))
        case_array(args, cluster, media)
        case_cancel(args, cluster, media)
        status = 0
    except Failure as failure:
        cluster.dump_logs()
        print(f"FAIL: {failure}")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
    log(f"{'PASS' if status == 0 else 'FAIL'} in {time.monotonic() - began:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())

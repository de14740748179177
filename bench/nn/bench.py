#!/usr/bin/python3
"""nn-core versus ONNX Runtime, interleaved.  Run through run.sh.

The models: the shipped ones in models/ (--shipped: both landmark networks
and the detector at 640×480), or SAM-GoogLeNet-BN exported with the
whole-network fixtures' weights at the given sizes (the default).  For every
round, every (model, threads) pair runs `facekp-nn bench` and `node
ort-bench.js` on the same static-shape .onnx with the same thread count, one
right after the other (which goes first alternates by round), so that load
from other processes hits both; --baseline-cli adds a second nn-core build
(e.g. the commit before a change) to each pair.  The table gives, per pair,
the median over rounds of each round's median ms, and the ratio nn-core /
ORT (below 1: nn-core is faster).
"""
import argparse
import functools
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GENERATOR = os.path.join(REPO, "tests", "nn", "make_fixtures.py")
GENERATOR_INPUTS = [GENERATOR, os.path.join(REPO, "training", "facekp_model.py")]

# The shipped models (file in models/, label, the range of the input values
# the model contract gives: (pixel - 127.5) / 127.5 for the landmark
# networks, RGB 0…255 for the detector).
SHIPPED = [
    ("facekp-landmarks68.onnx", "landmarks 112²", -1.0, 1.0),
    ("facekp-landmarks68-160.onnx", "landmarks 160²", -1.0, 1.0),
    ("face-detector.onnx", "detector 640×480", 0.0, 255.0),
]
# CPU flags that decide which kernels nn-core, OpenBLAS and ORT run.
SIMD_FLAGS = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
              "avx512_bf16", "amx_tile"]


def die(msg):
    sys.exit(f"bench-nn: {msg}")


def ensure_models(folder, variants, sizes):
    """Static-shape exports from tests/nn/make_fixtures.py (--bench), rebuilt when stale."""
    paths = {(v, s): os.path.join(folder, f"{v}-{s}.onnx") for v in variants for s in sizes}
    newest_source = max(os.path.getmtime(p) for p in GENERATOR_INPUTS)
    stale = [p for p in paths.values()
             if not os.path.exists(p) or os.path.getmtime(p) < newest_source]
    if stale:
        print(f"exporting {len(paths)} models into {folder} (PyTorch, about a minute) ...", flush=True)
        cmd = ["/usr/bin/python3", GENERATOR, "--bench", folder,
               "--sizes", ",".join(map(str, sizes))]
        if subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode != 0:
            die("model export failed (see above)")
    missing = [p for p in paths.values() if not os.path.exists(p)]
    if missing:
        die(f"export did not write {missing[0]}")
    return paths


@functools.lru_cache(maxsize=None)
def takes_warmup_ms(cli):
    """Whether this facekp-nn has --warmup-ms (a baseline built before it does not)."""
    res = subprocess.run([cli, "--help"], capture_output=True, text=True)
    if "--warmup-ms" not in res.stdout:
        print(f"note: {cli} has no --warmup-ms: it warms up by --warmup runs only",
              file=sys.stderr)
        return False
    return True


def run_nncore(cli, model, threads, runs, warmup, warmup_ms):
    cmd = [cli, "bench", model, "--threads", str(threads), "--runs", str(runs),
           "--warmup", str(warmup)]
    if takes_warmup_ms(cli):
        cmd += ["--warmup-ms", str(warmup_ms)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        die(f"{' '.join(cmd)} failed:\n{res.stderr.strip()}")
    median = re.search(r" median\s+([0-9.]+)\s*ms", res.stdout)
    low = re.search(r"min\s+([0-9.]+)\s*ms", res.stdout)
    cpu = re.search(r"cpu median\s+([0-9.]+)\s*ms", res.stdout)
    if not median or not low:
        die(f"cannot read min/median ms from facekp-nn bench output: {res.stdout.strip()!r}")
    # builds from before the CPU time was reported give none
    return float(low.group(1)), float(median.group(1)), float(cpu.group(1)) if cpu else float("nan")


def run_ort(model, threads, runs, warmup, warmup_ms):
    cmd = ["node", os.path.join(HERE, "ort-bench.js"), model, "--threads", str(threads),
           "--runs", str(runs), "--warmup", str(warmup), "--warmup-ms", str(warmup_ms)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        die(f"{' '.join(cmd)} failed:\n{res.stderr.strip()}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return (out["min_ms"], out["median_ms"], out["cpu_median_ms"]), out["ort"]


def fixture_inputs(models):
    """The input each fixture-network bench model is checked on: the
    whole-network fixtures' (make_fixtures.py chose them so no channel-argmax
    race is too close to call), or a random one for sizes without a fixture
    (then a mismatch only warns: such a race may, rarely, go either way)."""
    import configparser
    import numpy as np
    sys.path.insert(0, os.path.dirname(GENERATOR))
    import make_fixtures
    index = configparser.ConfigParser(interpolation=None)
    index.read(make_fixtures.INI_PATH)
    inputs = {}
    for (variant, size), model in models.items():
        group = f"case {variant}3 {size}"
        if index.has_section(group):
            x = make_fixtures.hashed_input(index.getint(group, "input_seed"), 3, size, size)
            inputs[model] = (x, True)
        else:
            x = np.random.default_rng(size).uniform(-1, 1, (1, 3, size, size)).astype(np.float32)
            inputs[model] = (x, False)
    return inputs


def shipped_inputs(cli, models):
    """A fixed random input in each shipped model's range of values."""
    import numpy as np
    inputs = {}
    for name, label, lo, hi in SHIPPED:
        model = models[label]
        info = run_child([cli, "info", model])
        dims = re.search(r"^input\s+\S+\s+\[([0-9, ]+)\]", info, re.M)
        if not dims:
            die(f"cannot read the input shape of {model} from facekp-nn info")
        shape = [int(d) for d in dims.group(1).split(",")]
        x = np.random.default_rng(len(name)).uniform(lo, hi, shape).astype(np.float32)
        inputs[model] = (x, True)
    return inputs


def check_same_results(clis, inputs, scratch):
    """Both engines must compute the same function of the same input, or the
    timing means nothing: every nn-core build's outputs within 1e-4 of the
    largest of ORT's.  inputs: model -> (input array, whether a mismatch is
    an error)."""
    import numpy as np
    worst = 0.0
    for model, (x, strict) in sorted(inputs.items()):
        raw = os.path.join(scratch, "check-input.raw")
        out_npy = os.path.join(scratch, "check-nn.npy")
        x.tofile(raw)
        text = run_child(["node", os.path.join(HERE, "ort-bench.js"), model, "--input", raw])
        ort_out = np.array(json.loads(text.strip().splitlines()[-1])["output"], dtype=np.float64)
        for cli in clis:
            run_child([cli, "run", model, raw, "-o", out_npy])
            nn_out = np.load(out_npy).reshape(-1)
            if nn_out.shape != ort_out.shape:
                die(f"{model}: nn-core ({cli}) gives {nn_out.size} outputs, ORT {ort_out.size}")
            rel = float(np.abs(nn_out - ort_out).max() / np.abs(ort_out).max())
            worst = max(worst, rel)
            if not rel <= 1e-4:
                msg = (f"{model}: nn-core ({cli}) and ORT disagree (max difference {rel:.2e} of "
                       f"the largest output)")
                if strict:
                    die(msg)
                print(f"warning: {msg}; random input, maybe a close argmax race", flush=True)
    print(f"outputs agree: max |nn-core - ORT| = {worst:.1e} of the largest output", flush=True)


def cpu_description():
    """The CPU's model name and the SIMD flags among SIMD_FLAGS it has (Linux)."""
    name, flags = "unknown CPU", []
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        m = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        if m:
            name = m.group(1).strip()
        m = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
        if m:
            have = set(m.group(1).split())
            flags = [f for f in SIMD_FLAGS if f in have]
    except OSError:
        pass
    return name, flags


def nncore_isa(flags):
    """The SGEMM path nn-core picks (nn-core/src/sgemm/sgemm.c: the best the
    CPU has, unless FKP_NN_ISA names another it has)."""
    supported = ["generic"] + (["avx2"] if "avx2" in flags and "fma" in flags else []) \
        + (["avx512"] if "avx512f" in flags else [])
    wanted = os.environ.get("FKP_NN_ISA", "").lower()
    return wanted if wanted in supported else supported[-1]


def run_child(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        die(f"{' '.join(cmd)} failed:\n{res.stderr.strip()}")
    return res.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", required=True, help="the facekp-nn executable")
    ap.add_argument("--baseline-cli", help="a second facekp-nn (another build) timed in the same rounds")
    ap.add_argument("--models", required=True, help="folder for the exported models (reused)")
    ap.add_argument("--shipped", action="store_true",
                    help="the shipped models in models/ instead of the exported test networks")
    ap.add_argument("--sizes", default="112,128,224")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--variants", default="argmax,max", help="attention variants: argmax,max")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--runs", type=int, default=10, help="timed runs per engine per round (default 10)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    # Debian's threaded OpenBLAS, loaded with nn-core, spins an idle worker on
    # sched_yield for 2^28 TSC cycles (about 0.1 s) after it starts: on 2 cores
    # that takes one from the first runs of a fast model (the detector's medians
    # doubled with 5 warm-up runs of 10 timed).  Both engines warm up this long.
    ap.add_argument("--warmup-ms", type=int, default=300,
                    help="and at least this many milliseconds (default 300)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    threads = [int(t) for t in args.threads.split(",")]
    if args.rounds < 1 or args.runs < 1:
        die("--rounds and --runs must be >= 1")
    clis = [args.cli] + ([args.baseline_cli] if args.baseline_cli else [])
    for cli in clis:
        if not os.access(cli, os.X_OK):
            die(f"{cli} is not an executable: build first (meson compile -C BUILD) or pass --build")

    if args.shipped:
        models = {label: os.path.join(REPO, "models", name) for name, label, _, _ in SHIPPED}
        inputs = shipped_inputs(args.cli, models)
    else:
        sizes = [int(s) for s in args.sizes.split(",")]
        variants = args.variants.split(",")
        if any(v not in ("argmax", "max") for v in variants):
            die("--variants takes argmax and/or max")
        exported = ensure_models(args.models, variants, sizes)
        inputs = fixture_inputs(exported)
        models = {f"{v} {s}²": path for (v, s), path in exported.items()}
    os.makedirs(args.models, exist_ok=True)
    check_same_results(clis, inputs, args.models)

    engines = ["nn", "ort"] + (["base"] if args.baseline_cli else [])
    pairs = [(label, t) for label in models for t in threads]
    results = {p: {e: [] for e in engines} for p in pairs}
    ort_version = "?"
    cpu, flags = cpu_description()
    print(f"CPU: {cpu}; SIMD flags: {' '.join(flags) or 'none'}; nn-core ISA: {nncore_isa(flags)}")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}; "
          f"{args.rounds} rounds x {args.runs} runs per engine; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    for r in range(args.rounds):
        for i, p in enumerate(pairs):
            label, t = p
            model = models[label]
            # each engine first in turn, by round and pair
            shift = (r + i) % len(engines)
            for engine in engines[shift:] + engines[:shift]:
                if engine == "ort":
                    times, ort_version = run_ort(model, t, args.runs, args.warmup, args.warmup_ms)
                    results[p]["ort"].append(times)
                else:
                    cli = args.cli if engine == "nn" else args.baseline_cli
                    results[p][engine].append(run_nncore(cli, model, t, args.runs, args.warmup,
                                                         args.warmup_ms))
            ort_med = results[p]["ort"][-1][1]
            line = "".join(f"  {e} {results[p][e][-1][1]:7.2f} ms" for e in engines if e != "ort")
            print(f"  round {r + 1}: {label:18s} {t} thr:{line}  ORT {ort_med:7.2f} ms  "
                  f"ratio {results[p]['nn'][-1][1] / ort_med:.2f}", flush=True)

    rows = []
    for p in pairs:
        label, t = p
        row = dict(model=label, threads=t)
        for e in engines:
            row[f"{e}_median_ms"] = statistics.median(m for _, m, _ in results[p][e])
            row[f"{e}_min_ms"] = min(lo for lo, _, _ in results[p][e])
            row[f"{e}_cpu_ms"] = statistics.median(c for _, _, c in results[p][e])
        row["ratio"] = row["nn_median_ms"] / row["ort_median_ms"]
        row["min_ratio"] = row["nn_min_ms"] / row["ort_min_ms"]
        row["cpu_ratio"] = row["nn_cpu_ms"] / row["ort_cpu_ms"]
        if args.baseline_cli:
            row["baseline_ratio"] = row["base_median_ms"] / row["ort_median_ms"]
        rows.append(row)

    load_after = os.getloadavg()[1]
    print()
    print(f"load average over the last 5 minutes: {load_after:.1f} on {os.cpu_count()} CPUs"
          + (" — busy machine: trust only the ratios, and only roughly" if load_after > (os.cpu_count() or 1) else ""))
    print(f"CPU: {cpu}; SIMD flags: {' '.join(flags) or 'none'}; nn-core ISA: {nncore_isa(flags)}")
    print(f"nn-core vs ONNX Runtime {ort_version} (onnxruntime-node, CPU); median of "
          f"{args.rounds} interleaved rounds' medians of {args.runs} runs")
    print("CPU ms: the process's CPU time per run (all threads; with one thread the run's own "
          "work, which a busy machine inflates less than wall time)")
    if args.baseline_cli:
        print(f"baseline: {args.baseline_cli}")
    base_head = " baseline ms | baseline/ORT |" if args.baseline_cli else ""
    print(f"| model | threads |{base_head} nn-core median ms | ORT median ms | nn-core/ORT "
          "| nn-core min ms | ORT min ms | min ratio | nn-core CPU ms | ORT CPU ms | CPU ratio |")
    print("|---|---|" + ("---|---|" if args.baseline_cli else "") + "---|---|---|---|---|---|---|---|---|")
    for row in rows:
        base = (f" {row['base_median_ms']:.2f} | {row['baseline_ratio']:.2f} |"
                if args.baseline_cli else "")
        print(f"| {row['model']} | {row['threads']} |{base} {row['nn_median_ms']:.2f} "
              f"| {row['ort_median_ms']:.2f} | {row['ratio']:.2f} | {row['nn_min_ms']:.2f} "
              f"| {row['ort_min_ms']:.2f} | {row['min_ratio']:.2f} | {row['nn_cpu_ms']:.2f} "
              f"| {row['ort_cpu_ms']:.2f} | {row['cpu_ratio']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(ort=ort_version, cpu=cpu, simd_flags=flags, rounds=args.rounds,
                           runs=args.runs, load_average_5min=load_after, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""nn-core versus ONNX Runtime on SAM-GoogLeNet-BN, interleaved.  Run through run.sh.

For every round, every (variant, size, threads) pair runs `facekp-nn bench`
and `node ort-bench.js` on the same static-shape .onnx with the same thread
count, one right after the other (which goes first alternates by round), so
that load from other processes hits both.  The table gives, per pair, the
median over rounds of each round's median ms, and the ratio nn-core / ORT
(below 1: nn-core is faster).
"""
import argparse
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


def run_nncore(cli, model, threads, runs, warmup):
    cmd = [cli, "bench", model, "--threads", str(threads), "--runs", str(runs),
           "--warmup", str(warmup)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        die(f"{' '.join(cmd)} failed:\n{res.stderr.strip()}")
    median = re.search(r"median\s+([0-9.]+)\s*ms", res.stdout)
    low = re.search(r"min\s+([0-9.]+)\s*ms", res.stdout)
    if not median or not low:
        die(f"cannot read min/median ms from facekp-nn bench output: {res.stdout.strip()!r}")
    return float(low.group(1)), float(median.group(1))


def run_ort(model, threads, runs, warmup):
    cmd = ["node", os.path.join(HERE, "ort-bench.js"), model, "--threads", str(threads),
           "--runs", str(runs), "--warmup", str(warmup)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        die(f"{' '.join(cmd)} failed:\n{res.stderr.strip()}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return out["min_ms"], out["median_ms"], out["ort"]


def check_same_results(cli, models, scratch):
    """Both engines must compute the same function of the same input, or the timing means nothing.

    The bench models carry the whole-network fixtures' weights, so the inputs are
    the fixtures' (make_fixtures.py chose them so no channel-argmax race is too
    close to call); for other sizes a random input can, rarely, decide such a
    race differently in the two engines, so a mismatch there only warns."""
    import configparser
    import numpy as np
    sys.path.insert(0, os.path.dirname(GENERATOR))
    import make_fixtures
    index = configparser.ConfigParser(interpolation=None)
    index.read(make_fixtures.INI_PATH)
    worst = 0.0
    for (variant, size), model in sorted(models.items()):
        group = f"case {variant}3 {size}"
        if index.has_section(group):
            x = make_fixtures.hashed_input(index.getint(group, "input_seed"), 3, size, size)
        else:
            x = np.random.default_rng(size).uniform(-1, 1, (1, 3, size, size)).astype(np.float32)
        raw = os.path.join(scratch, "check-input.raw")
        out_npy = os.path.join(scratch, "check-nn.npy")
        x.tofile(raw)
        run_child([cli, "run", model, raw, "-o", out_npy])
        nn_out = np.load(out_npy).reshape(-1)
        text = run_child(["node", os.path.join(HERE, "ort-bench.js"), model, "--input", raw])
        ort_out = np.array(json.loads(text.strip().splitlines()[-1])["output"], dtype=np.float64)
        if nn_out.shape != ort_out.shape:
            die(f"{model}: nn-core gives {nn_out.size} outputs, ORT {ort_out.size}")
        rel = float(np.abs(nn_out - ort_out).max() / np.abs(ort_out).max())
        worst = max(worst, rel)
        if not rel <= 1e-4:
            msg = f"{model}: nn-core and ORT disagree (max difference {rel:.2e} of the largest output)"
            if index.has_section(group):
                die(msg)
            print(f"warning: {msg}; random input, maybe a close argmax race", flush=True)
    print(f"outputs agree: max |nn-core - ORT| = {worst:.1e} of the largest output", flush=True)


def run_child(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        die(f"{' '.join(cmd)} failed:\n{res.stderr.strip()}")
    return res.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", required=True, help="the facekp-nn executable")
    ap.add_argument("--models", required=True, help="folder for the exported models (reused)")
    ap.add_argument("--sizes", default="112,128,224")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--variants", default="argmax,max", help="attention variants: argmax,max")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--runs", type=int, default=10, help="timed runs per engine per round (default 10)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    sizes = [int(s) for s in args.sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    variants = args.variants.split(",")
    if any(v not in ("argmax", "max") for v in variants):
        die("--variants takes argmax and/or max")
    if args.rounds < 1 or args.runs < 1:
        die("--rounds and --runs must be >= 1")
    if not os.access(args.cli, os.X_OK):
        die(f"{args.cli} is not an executable: build first (meson compile -C BUILD) or pass --build")

    models = ensure_models(args.models, variants, sizes)
    check_same_results(args.cli, models, args.models)
    pairs = [(v, s, t) for v in variants for s in sizes for t in threads]
    results = {p: {"nn": [], "ort": []} for p in pairs}
    ort_version = "?"
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}; "
          f"{args.rounds} rounds x {args.runs} runs per engine; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    for r in range(args.rounds):
        for p in pairs:
            variant, size, t = p
            model = models[(variant, size)]
            order = ("nn", "ort") if (r + pairs.index(p)) % 2 == 0 else ("ort", "nn")
            for engine in order:
                if engine == "nn":
                    results[p]["nn"].append(run_nncore(args.cli, model, t, args.runs, args.warmup))
                else:
                    lo, med, ort_version = run_ort(model, t, args.runs, args.warmup)
                    results[p]["ort"].append((lo, med))
            nn_med = results[p]["nn"][-1][1]
            ort_med = results[p]["ort"][-1][1]
            print(f"  round {r + 1}: {variant:6s} {size}² {t} thr: nn-core {nn_med:7.2f} ms  "
                  f"ORT {ort_med:7.2f} ms  ratio {nn_med / ort_med:.2f}", flush=True)

    rows = []
    for p in pairs:
        variant, size, t = p
        nn_med = statistics.median(m for _, m in results[p]["nn"])
        ort_med = statistics.median(m for _, m in results[p]["ort"])
        nn_min = min(lo for lo, _ in results[p]["nn"])
        ort_min = min(lo for lo, _ in results[p]["ort"])
        rows.append(dict(variant=variant, size=size, threads=t, nn_median_ms=nn_med,
                         ort_median_ms=ort_med, ratio=nn_med / ort_med, nn_min_ms=nn_min,
                         ort_min_ms=ort_min, min_ratio=nn_min / ort_min))

    load_after = os.getloadavg()[1]
    print()
    print(f"load average over the last 5 minutes: {load_after:.1f} on {os.cpu_count()} CPUs"
          + (" — busy machine: trust only the ratios, and only roughly" if load_after > (os.cpu_count() or 1) else ""))
    print(f"nn-core vs ONNX Runtime {ort_version} (onnxruntime-node, CPU); median of "
          f"{args.rounds} interleaved rounds' medians of {args.runs} runs")
    print("| attention | input | threads | nn-core median ms | ORT median ms | nn-core/ORT "
          "| nn-core min ms | ORT min ms | min ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['variant']} | {row['size']}² | {row['threads']} | {row['nn_median_ms']:.2f} "
              f"| {row['ort_median_ms']:.2f} | {row['ratio']:.2f} | {row['nn_min_ms']:.2f} "
              f"| {row['ort_min_ms']:.2f} | {row['min_ratio']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(ort=ort_version, rounds=args.rounds, runs=args.runs,
                           load_average_5min=load_after, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()

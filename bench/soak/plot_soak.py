#!/usr/bin/env python3
"""Plots a soak run's CSV (bench/soak/soak.py --csv): RSS and open fds
against frames, the warm-up shaded.

    python3 bench/soak/plot_soak.py soak.csv docs/images/soak.svg [--warmup 2000]
"""
import argparse
import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("csv")
    parser.add_argument("output")
    parser.add_argument("--warmup", type=int, default=2000)
    args = parser.parse_args()
    with open(args.csv) as f:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    frames = [r["frame"] for r in rows]
    fig, (rss, fds) = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True)
    rss.plot(frames, [r["rss_kb"] / 1024 for r in rows], marker=".")
    rss.set_ylabel("RSS (MiB)")
    fds.plot(frames, [r["fds"] for r in rows], marker=".", color="tab:orange")
    fds.set_ylabel("open fds")
    fds.set_xlabel("frames")
    for ax in (rss, fds):
        ax.axvspan(0, args.warmup, color="0.9", label="warm-up")
        ax.grid(True, alpha=0.3)
    rss.set_title("facekpfilter soak: seeks, property and caps changes mixed in")
    fig.tight_layout()
    fig.savefig(args.output)


if __name__ == "__main__":
    main()

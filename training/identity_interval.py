#!/usr/bin/python3
"""How precise an expression's Spearman rho on the test split is, and whether one model
ranks better than another: both resampled by identity.

  /usr/bin/python3 identity_interval.py A.csv [B.csv] [--draws 2000]

A.csv, B.csv: `facekp-face-eval --mode expressions --per-image` rows of two models on the
same split.  The split's images are frames of few people (the test split: 435 frames of
35), and one person's frames share a face, a light and a labeller, so images are not
independent draws: each of the draws picks the people with replacement and takes all
their frames.  Prints, per expression, rho with its 95 % interval, and with B the
difference B - A with its interval over the same draws.
"""
import argparse
import csv

import numpy as np

import expression_values as ev
import facekp_data as data


def read_rows(path):
    with open(path, newline="") as f:
        return {row["name"]: row for row in csv.DictReader(f)}


def intervals(truth, preds, people, draws, seed=0):
    """[(rho, (low, high))] for each prediction in `preds`, and for each after the first
    its difference from the first [(mean, (low, high))], over `draws` resamplings of
    `people` (one label per image)."""
    groups = [np.flatnonzero(people == p) for p in np.unique(people)]
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(draws):
        pick = np.concatenate([groups[g] for g in rng.integers(0, len(groups), len(groups))])
        samples.append([ev.spearman(truth[pick], p[pick]) for p in preds])
    samples = np.array(samples)
    rhos = [(ev.spearman(truth, p), tuple(np.quantile(samples[:, i], [0.025, 0.975])))
            for i, p in enumerate(preds)]
    diffs = [(float(np.mean(samples[:, i] - samples[:, 0])),
              tuple(np.quantile(samples[:, i] - samples[:, 0], [0.025, 0.975])))
             for i in range(1, len(preds))]
    return rhos, diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("per_image", nargs="+", help="one or two --per-image CSV files")
    ap.add_argument("--draws", type=int, default=2000)
    args = ap.parse_args()
    if len(args.per_image) > 2:
        raise SystemExit("one or two files")
    tables = [read_rows(p) for p in args.per_image]
    names = sorted(tables[0])
    if any(sorted(t) != names for t in tables[1:]):
        raise SystemExit("the files hold different images")
    people = np.array([data.identity_of(n) for n in names])
    print(f"{len(names)} images of {len(np.unique(people))} people, {args.draws} draws")
    keys = [k[len("true_"):] for k in tables[0][names[0]] if k.startswith("true_")]
    for key in keys:
        truth = np.array([float(tables[0][n]["true_" + key]) for n in names])
        preds = [np.array([float(t[n]["pred_" + key]) for n in names]) for t in tables]
        rhos, diffs = intervals(truth, preds, people, args.draws)
        line = "  ".join(f"rho {r:.3f} ({lo:.3f} to {hi:.3f})" for r, (lo, hi) in rhos)
        line += "".join(f"  B - A {m:+.3f} ({lo:+.3f} to {hi:+.3f})" for m, (lo, hi) in diffs)
        print(f"{key:18s} {line}")


if __name__ == "__main__":
    main()

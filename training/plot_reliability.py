#!/usr/bin/python3
"""Reliability plot of the point_error output: predicted against observed point error.

  /usr/bin/python3 plot_reliability.py /work/trust-cache/facekp-landmarks68/point-error-test.npz \
      ../docs/images/point-error-reliability.png [--label 112²] [MORE.npz --label ...]

Reads what fit_presence.py measured on the test split (identities it was not fitted
on): for every face crop and point, the predicted expected error and the observed
distance to the true point, both as fractions of the crop's side.  The points are
grouped into equal-count bins of predicted error; a calibrated output puts each
bin's mean observed error on the diagonal.  Prints the expected calibration error
(mean |observed - predicted| over the bins, weighted by count) per file.
"""
import argparse
import json

import numpy as np


def bins(predicted, observed, n_bins=15):
    order = np.argsort(predicted)
    groups = np.array_split(order, n_bins)
    px = np.array([predicted[g].mean() for g in groups])
    oy = np.array([observed[g].mean() for g in groups])
    counts = np.array([len(g) for g in groups])
    return px, oy, counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", help="point-error-test.npz files, then the PNG to write")
    ap.add_argument("--label", action="append", default=[])
    args = ap.parse_args()
    *files, out = args.inputs
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.2, 4.6), dpi=110)
    top = 0.0
    for i, path in enumerate(files):
        with np.load(path) as f:
            predicted, observed = f["predicted"].ravel(), f["observed"].ravel()
        px, oy, counts = bins(predicted, observed)
        ece = float((np.abs(oy - px) * counts).sum() / counts.sum())
        corr = float(np.corrcoef(predicted, observed)[0, 1])
        label = args.label[i] if i < len(args.label) else path
        print(json.dumps({"file": path, "points": int(len(predicted)), "ece": round(ece, 5),
                          "mean_predicted": round(float(predicted.mean()), 5),
                          "mean_observed": round(float(observed.mean()), 5),
                          "correlation": round(corr, 4)}))
        ax.plot(px, oy, "o-", label=f"{label} (ECE {ece:.4f})")
        top = max(top, px.max(), oy.max())
    ax.plot([0, top * 1.05], [0, top * 1.05], color="grey", linestyle=":", label="calibrated")
    ax.set_xlabel("predicted expected error (fraction of the crop side)")
    ax.set_ylabel("mean observed error in the bin")
    ax.set_title("point_error on the test split (15 equal-count bins)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    print(json.dumps({"wrote": out}))


if __name__ == "__main__":
    main()

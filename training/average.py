#!/usr/bin/env python3
"""Averages the weights of training checkpoints into one checkpoint.

    /usr/bin/python3 average.py OUT.pt A.pt B.pt [C.pt ...]

Checkpoints along one training trajectory (the ends of two warm-restart
stages, or per-epoch snapshots of a constant-rate stage: train.py
--snapshots) sit around a flat region of the loss; their mean lands nearer
its middle and generalises better than any of them (stochastic weight
averaging).  On the test split the mean of the ends of stages 2 and 3 gave
NME 0.0526 against 0.0554 and 0.0587 for the two alone (true-points crop).
BatchNorm running statistics are averaged like the weights, integer buffers
taken from the last checkpoint; OUT.pt has the format of train.py's last.pt
(model, args, epoch, history), which export.py, evaluate.py and train.py
--init-from read.
"""
import argparse

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("checkpoints", nargs="+")
    args = ap.parse_args()
    if len(args.checkpoints) < 2:
        raise SystemExit("give at least two checkpoints to average")
    loaded = [torch.load(p, map_location="cpu") for p in args.checkpoints]
    last = loaded[-1]
    keys = set(last["model"])
    for path, ck in zip(args.checkpoints, loaded):
        if set(ck["model"]) != keys:
            raise SystemExit(f"{path}: not the same network as {args.checkpoints[-1]}")
    mean = {}
    for k, v in last["model"].items():
        if v.dtype.is_floating_point:
            mean[k] = sum(ck["model"][k] for ck in loaded) / len(loaded)
        else:
            mean[k] = v.clone()
    torch.save({"model": mean, "args": last["args"], "epoch": last["epoch"],
                "history": last.get("history", []), "averaged": list(args.checkpoints)}, args.out)
    print(f"wrote {args.out}: mean of {len(loaded)} checkpoints")


if __name__ == "__main__":
    main()

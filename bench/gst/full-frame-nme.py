#!/usr/bin/python3
"""NME of facekpfilter with face-source=full-frame over a labelled CSV split
(default ../shared/data/keypoints/test), to compare with the training
evaluation of the same model (training/evaluate.py, full-frame protocol):
the element must give the same NME within 0.0005.

Every image goes through
    multifilesrc ! jpegdec ! videoconvert ! facekpfilter face-source=full-frame smoothing=false
as one frame of a stream (caps change with the image size); the JSON-lines
export gives the points.

Usage: full-frame-nme.py [--data DIR] [--split test] [--format GRAY8|RGB|I420]
                         [--reference NME] [--model PATH]
(GST_PLUGIN_PATH must point at BUILD/gst-plugin.)"""
import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(HERE, "..", "..", "..", "shared", "data",
                                                        "keypoints"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--format", default="I420", help="raw format fed to the element")
    parser.add_argument("--model", default="", help="landmark model (default: the shipped one)")
    parser.add_argument("--reference", type=float, help="training evaluation's mean NME")
    parser.add_argument("--limit", type=int, default=0, help="only the first N images")
    args = parser.parse_args()

    with open(os.path.join(args.data, f"{args.split}_frames_keypoints.csv"), newline="") as f:
        rows = [r for r in list(csv.reader(f))[1:] if r]
    if args.limit:
        rows = rows[:args.limit]
    work = tempfile.mkdtemp(prefix="facekp-fullframe-")
    try:
        for i, row in enumerate(rows):
            os.symlink(os.path.abspath(os.path.join(args.data, args.split, row[0])),
                       os.path.join(work, f"{i:05d}.jpg"))
        export = os.path.join(work, "points.jsonl")
        cmd = ["gst-launch-1.0", "-q", "multifilesrc", f"location={work}/%05d.jpg", "index=0",
               f"stop-index={len(rows) - 1}", "caps=image/jpeg,framerate=30/1", "!", "jpegdec",
               "!", "videoconvert", "!", f"video/x-raw,format={args.format}", "!",
               "facekpfilter", "face-source=full-frame", "smoothing=false", "stickers=\"\"",
               "post-messages=none", f"export-location={export}"]
        if args.model:
            cmd.append(f"model={args.model}")
        cmd += ["!", "fakesink"]
        subprocess.run(cmd, check=True)
        with open(export) as f:
            lines = [json.loads(t) for t in f]
    finally:
        shutil.rmtree(work)

    if len(lines) != len(rows):
        sys.exit(f"{len(lines)} lines for {len(rows)} images")
    errors = []
    for row, line in zip(rows, lines):
        truth = [(float(row[1 + 2 * k]), float(row[2 + 2 * k])) for k in range(68)]
        if len(line["faces"]) != 1:
            sys.exit(f"{row[0]}: {len(line['faces'])} faces in full-frame mode")
        pts = line["faces"][0]["points"]
        iod = math.dist(truth[36], truth[45])
        errors.append(sum(math.dist(p, t) for p, t in zip(pts, truth)) / 68 / iod)
    mean = statistics.fmean(errors)
    print(f"facekpfilter face-source=full-frame, {args.format}, {len(errors)} images of "
          f"{args.split}: NME mean {mean:.4f}, median {statistics.median(errors):.4f}, "
          f"failure rate (> 0.08) {100 * sum(e > 0.08 for e in errors) / len(errors):.1f} %")
    if args.reference is not None:
        diff = abs(mean - args.reference)
        print(f"training evaluation {args.reference:.4f}: difference {diff:.4f} "
              f"({'within' if diff <= 0.0005 else 'NOT within'} 0.0005)")
        return 0 if diff <= 0.0005 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

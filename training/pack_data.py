#!/usr/bin/python3
"""Writes a compact gray copy of the keypoint data set, same layout and CSVs.

  /usr/bin/python3 pack_data.py ../../shared/data/keypoints OUT

The training code reads only luma, so each image is stored as an 8-bit gray
JPEG (quality 95): the whole set shrinks from 61 MB to about 45 MB, which is
what lets it travel to a remote GPU machine with the repository.  The CSVs are
copied unchanged; the points stay in pixels of the same-sized image.
"""
import argparse
import csv
import os
import shutil

from PIL import Image

import facekp_data as data


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="folder holding {training,test}_frames_keypoints.csv")
    ap.add_argument("out", help="folder to write (created)")
    ap.add_argument("--quality", type=int, default=95)
    args = ap.parse_args()
    for split in ("training", "test"):
        os.makedirs(os.path.join(args.out, split), exist_ok=True)
        csv_name = f"{split}_frames_keypoints.csv"
        shutil.copyfile(os.path.join(args.data, csv_name), os.path.join(args.out, csv_name))
        with open(os.path.join(args.data, csv_name), newline="") as f:
            rows = csv.reader(f)
            next(rows)
            for row in rows:
                gray = data.to_gray(Image.open(os.path.join(args.data, split, row[0])))
                Image.fromarray(gray.round().clip(0, 255).astype("uint8")).save(
                    os.path.join(args.out, split, row[0]), "JPEG", quality=args.quality)
    for extra in ("LICENSE", "README.md"):
        if os.path.exists(os.path.join(args.data, extra)):
            shutil.copyfile(os.path.join(args.data, extra), os.path.join(args.out, extra))


if __name__ == "__main__":
    main()

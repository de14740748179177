#!/usr/bin/python3
"""Writes the face pipeline's test fixtures into tests/data/ (run once, output committed).

  /usr/bin/python3 tests/face/make_fixtures.py ../shared/data/keypoints

- face-<name>.png: a few labelled crops of the keypoints test split, as PNG (Cairo reads PNG),
  and face-crops.csv: their rows (file name, then x0, y0, ..., x67, y67), as in the data set.
- face-warp-reference.txt: crops computed by training/facekp_data.py warp_crop (the Python
  reference of the contract's crop) from those PNGs, which the C crop must reproduce.
- face-detector-reference.txt: the shipped detector's boxes on the three photos in tests/data
  (sample*.jpg) by training/detector/decode.py (the Python reference of letterbox, decode and
  NMS) run with training/detector/onnx_runner.py, and the hand-counted faces of
  photos-faces.json in a line format the C test reads.  Regenerate with --detector-only when
  the detector model changes.
"""
import csv
import math
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "training"))
import facekp_data as data  # noqa: E402

OUT = os.path.join(ROOT, "tests", "data")
PICK = 8          # crops to copy, spread evenly over the sorted split


def detector_fixture():
    import json
    sys.path.insert(0, os.path.join(ROOT, "training", "detector"))
    import onnx
    import decode
    from onnx_runner import OnnxRunner
    model_path = os.path.join(ROOT, "models", "face-detector.onnx")
    model = onnx.load(model_path)
    contract = decode.DetectorContract(decode.read_metadata(model))
    runner = OnnxRunner(model)

    def run(tensor):
        out = runner(tensor)
        out = out[0] if isinstance(out, (list, tuple)) else out
        return out.numpy() if hasattr(out, "numpy") else np.asarray(out)

    with open(os.path.join(OUT, "photos-faces.json")) as f:
        hand = json.load(f)["images"]
    import hashlib
    with open(model_path, "rb") as f:
        model_sha = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(OUT, "face-detector-reference.txt"), "w") as f:
        f.write("model-sha256 %s\n" % model_sha)
        f.write("# face-detector-reference: 'hand FILE x y w h' = a hand-counted face "
                "(photos-faces.json); 'det FILE x y w h score' = decode.py detect() with "
                "models/face-detector.onnx at its own input size and threshold; det416x320: the "
                "same through a 416 x 320 input\n")
        for name in sorted(hand):
            for x, y, w, h in hand[name]["faces"]:
                f.write("hand %s %g %g %g %g\n" % (name, x, y, w, h))
            rgb = np.asarray(Image.open(os.path.join(OUT, name)).convert("RGB"))
            for x, y, w, h, score in decode.detect(run, rgb, contract):
                f.write("det %s %.4f %.4f %.4f %.4f %.6f\n" % (name, x, y, w, h, score))
            # The input size is configurable: the same photo through a 416 x 320 input.
            for x, y, w, h, score in decode.detect(run, rgb, contract, width=416, height=320):
                f.write("det416x320 %s %.4f %.4f %.4f %.4f %.6f\n" % (name, x, y, w, h, score))
    print("wrote face-detector-reference.txt")


def main():
    if "--detector-only" in sys.argv:
        detector_fixture()
        return
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data",
                                                             "keypoints")
    with open(os.path.join(src, "test_frames_keypoints.csv"), newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], sorted(rows[1:], key=lambda r: r[0])
    step = len(rows) // PICK
    chosen = [rows[i * step] for i in range(PICK)]
    out_rows = []
    for row in chosen:
        name = "face-" + os.path.splitext(row[0])[0] + ".png"
        Image.open(os.path.join(src, "test", row[0])).convert("RGB").save(os.path.join(OUT, name))
        out_rows.append([name] + row[1:])
    with open(os.path.join(OUT, "face-crops.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(out_rows)

    # Reference crops: (image, centre, side, angle, size) covering k = 1, k > 1, rotation,
    # taps off the frame, and the full frame.
    cases = []
    for i, row in enumerate(out_rows[:3]):
        img = Image.open(os.path.join(OUT, row[0]))
        gray = data.to_gray(img)
        pts = np.asarray(row[1:], np.float32).reshape(68, 2)
        centre, side = data.crop_from_points(pts, 1.5)
        left, right = pts[36:42].mean(axis=0), pts[42:48].mean(axis=0)
        eye = math.atan2(right[1] - left[1], right[0] - left[0])
        h, w = gray.shape
        cases.append((row[0], gray, centre, side, eye + 0.2 * (i + 1), 32))
        cases.append((row[0], gray, centre + np.float32([w * 0.4, -h * 0.3]), side * 2.2, -0.5, 24))
        c, s = data.crop_from_frame(w, h)
        cases.append((row[0], gray, c, s, 0.0, 40))
    with open(os.path.join(OUT, "face-warp-reference.txt"), "w") as f:
        f.write("# face-warp-reference: file cx cy side angle size, then size*size values "
                "(training/facekp_data.py warp_crop)\n")
        for name, gray, centre, side, angle, size in cases:
            crop = data.warp_crop(gray, centre, side, angle, size)
            f.write("%s %.9g %.9g %.9g %.9g %d\n" % (name, centre[0], centre[1], side, angle, size))
            f.write(" ".join("%.6f" % v for v in crop.reshape(-1)) + "\n")
    print("wrote %d crops and %d reference warps to %s" % (len(out_rows), len(cases), OUT))
    detector_fixture()


if __name__ == "__main__":
    main()

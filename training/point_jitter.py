#!/usr/bin/python3
"""How far a model's points move from frame to frame under sensor noise alone.

  /usr/bin/python3 point_jitter.py A.pt [B.pt ...] --data DIR
  /usr/bin/python3 point_jitter.py ../models/facekp-landmarks68.onnx \
      --nn-lib ../build/nn-core/libfacekp-nn.so --data DIR

For evenly spaced test images, each model predicts the points of several
copies of the image, each with its own uniform noise of +-NOISE grey levels,
from one fixed crop (the contract's crop from the true points), as a tracker
sees a still face.  It prints the mean distance between consecutive copies'
points over the eye-corner distance (points 36 and 45), the unit of NME:
the jitter that the element's smoothing then has to absorb.  Every model
sees the same noise.  Checkpoints run through PyTorch, ONNX files through
nn-core, as in evaluate.py.
"""
import argparse
import json

import numpy as np

import evaluate
import facekp_data as data


def point_jitter(engine, contract, images, points, copies, noise, seed):
    """Per image: mean point motion between consecutive noisy copies / eye-corner distance."""
    rng = np.random.default_rng(seed)
    motion = []
    for gray, truth in zip(images, points):
        noisy = [np.clip(gray + rng.integers(-noise, noise + 1, gray.shape), 0, 255).astype(np.float32)
                 for _ in range(copies)]
        p = evaluate.predict(engine, contract, noisy, [contract.crop_from_points(truth)] * copies)
        motion.append(np.linalg.norm(np.diff(p, axis=0), axis=2).mean()
                      / np.linalg.norm(truth[36] - truth[45]))
    return np.array(motion)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="training checkpoints (.pt) or exported models (.onnx)")
    ap.add_argument("--nn-lib", help="path to libfacekp-nn.so, for .onnx models")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--images", type=int, default=120, help="evenly spaced images of the split")
    ap.add_argument("--copies", type=int, default=6, help="noisy copies of each image")
    ap.add_argument("--noise", type=int, default=6, help="uniform noise, +- grey levels")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    _, images, points = data.load_split(args.data, args.split)
    pick = np.linspace(0, len(images) - 1, min(args.images, len(images))).round().astype(int)
    for path in args.models:
        engine = (evaluate.NnCoreEngine(path, args.nn_lib) if path.endswith(".onnx")
                  else evaluate.TorchEngine(path))
        motion = point_jitter(engine, evaluate.Contract(engine.meta), [images[i] for i in pick],
                              [points[i] for i in pick], args.copies, args.noise, args.seed)
        print(json.dumps({"model": path, "images": len(pick), "jitter_mean": round(float(motion.mean()), 5),
                          "jitter_median": round(float(np.median(motion)), 5),
                          "jitter_p90": round(float(np.percentile(motion, 90)), 5)}), flush=True)


if __name__ == "__main__":
    main()

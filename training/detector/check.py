#!/usr/bin/python3
"""Check the converted detector against the original face-api network.

    cd training/detector && make check

For one square input size (face-api's networks take squares) it converts the weights again,
then runs the same inputs (the three photos letterboxed, plus uniform noise) through
  1. face-api itself (TensorFlow.js CPU backend, faceapi_reference.cjs) -- the original,
  2. ONNX Runtime on the converted .onnx (ort_run.cjs),
  3. this folder's PyTorch ONNX interpreter on the same file (what evaluate.py uses),
  4. the numpy TensorFlow-semantics forward pass straight from the manifest weights,
and prints the largest absolute differences of the raw outputs and of the decoded boxes.
It also runs the shipped models/face-detector.onnx through ONNX Runtime and the interpreter.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from PIL import Image

import convert
import decode
import tiny_face_detector as tfd
from onnx_runner import OnnxRunner

HERE = os.path.dirname(os.path.abspath(__file__))
PHOTOS = os.path.join(HERE, "..", "..", "tests", "data")
PHOTO_NAMES = ("sample2.jpg", "sample4.jpg", "sample5.jpg")


def node(*args):
    res = subprocess.run(["node", *args], cwd=HERE, capture_output=True, text=True)
    if res.returncode:
        sys.exit("node %s failed:\n%s%s" % (" ".join(args), res.stdout, res.stderr))
    return res.stdout


def match_boxes(ours, theirs):
    """Largest |coordinate| and |score| difference over score-sorted pairs."""
    if len(ours) != len(theirs):
        return None
    a = ours[np.argsort(-ours[:, 4])]
    b = theirs[np.argsort(-theirs[:, 4])]
    return float(np.abs(a[:, :4] - b[:, :4]).max(initial=0)), float(np.abs(a[:, 4] - b[:, 4]).max(initial=0))


def main(argv=None):
    ap = argparse.ArgumentParser(description="compare the converted detector with face-api")
    ap.add_argument("--size", type=int, default=416, help="square input side for the comparison")
    ap.add_argument("--photos", default=PHOTOS)
    ap.add_argument("--shipped", default=os.path.join(HERE, "..", "..", "models", "face-detector.onnx"))
    ap.add_argument("--workdir", default=os.path.join(HERE, "out", "check"))
    args = ap.parse_args(argv)
    os.makedirs(args.workdir, exist_ok=True)
    size = args.size
    package_dir = os.path.join(HERE, "node_modules", convert.PACKAGE)
    model, weights = convert.build(package_dir, size, size, convert.DEFAULT_SCORE_THRESHOLD,
                                   convert.DEFAULT_BOX_TO_LANDMARK)
    model_path = os.path.join(args.workdir, "square.onnx")
    onnx.save(model, model_path)
    contract = decode.DetectorContract(decode.read_metadata(model))

    rng = np.random.default_rng(1)
    inputs = {"noise": rng.uniform(0, 255, (1, 3, size, size)).astype(np.float32)}
    for name in PHOTO_NAMES:
        rgb = np.asarray(Image.open(os.path.join(args.photos, name)).convert("RGB"))
        inputs[name.split(".")[0]], _ = decode.letterbox(rgb, size, size)
    fa_job = {"size": size, "score_threshold": contract.score_threshold, "inputs": []}
    ort_job = {"threads": 1, "runs": 0, "inputs": []}
    for key, nchw in inputs.items():
        nchw.tofile(os.path.join(args.workdir, key + ".nchw.f32"))
        np.ascontiguousarray(nchw[0].transpose(1, 2, 0)).tofile(os.path.join(args.workdir, key + ".hwc.f32"))
        fa_job["inputs"].append({"rgb": key + ".hwc.f32", "out": key})
        ort_job["inputs"].append({"nchw": key + ".nchw.f32", "shape": list(nchw.shape), "out": key})
    with open(os.path.join(args.workdir, "faceapi.json"), "w") as f:
        json.dump(fa_job, f)
    with open(os.path.join(args.workdir, "ort.json"), "w") as f:
        json.dump(ort_job, f)
    print(node("faceapi_reference.cjs", os.path.join(args.workdir, "faceapi.json")).strip())
    print(node("ort_run.cjs", model_path, os.path.join(args.workdir, "ort.json")).strip())

    runner = OnnxRunner(model_path)
    g = size // tfd.STRIDE
    print("\nraw output differences (max |a - b|), square %dx%d input; largest |output| for scale" % (size, size))
    print("%-8s %10s %12s %12s %12s %12s" % ("input", "max|out|", "ORT-faceapi", "torch-faceapi",
                                           "numpy-faceapi", "ORT-torch"))
    worst = 0.0
    for key, nchw in inputs.items():
        fa = np.fromfile(os.path.join(args.workdir, key + ".grid.f32"), np.float32).reshape(g, g, 25)
        fa = fa.transpose(2, 0, 1)[None]
        ort = np.fromfile(os.path.join(args.workdir, key + ".ort.f32"), np.float32).reshape(fa.shape)
        tor = runner(nchw)
        ref = tfd.reference_forward(weights, nchw[0].transpose(1, 2, 0)).transpose(2, 0, 1)[None]
        d = [np.abs(ort - fa).max(), np.abs(tor - fa).max(), np.abs(ref - fa).max(), np.abs(ort - tor).max()]
        worst = max(worst, d[0])
        print("%-8s %10.3f %12.2e %12.2e %12.2e %12.2e" % (key, np.abs(fa).max(), *d))
        if key == "noise":
            continue
        fa_dets = json.load(open(os.path.join(args.workdir, key + ".dets.json")))
        theirs = np.asarray([[d["x"], d["y"], d["w"], d["h"], d["score"]] for d in fa_dets]).reshape(-1, 5)
        ours = decode.nms(decode.decode(ort, contract, 1.0, size, size), contract.nms_iou)
        m = match_boxes(ours, theirs)
        if m is None:
            print("   decoded: face-api %d boxes, ours %d boxes" % (len(theirs), len(ours)))
        else:
            print("   decoded: %d boxes each; max |box coordinate diff| %.2e px, max |score diff| %.2e"
                  % (len(ours), m[0], m[1]))

    if os.path.exists(args.shipped):
        shipped = onnx.load(args.shipped)
        dims = [d.dim_value for d in shipped.graph.input[0].type.tensor_type.shape.dim]
        c = decode.DetectorContract(decode.read_metadata(shipped))
        rgb = np.asarray(Image.open(os.path.join(args.photos, PHOTO_NAMES[0])).convert("RGB"))
        nchw, _ = decode.letterbox(rgb, c.width, c.height)
        nchw.tofile(os.path.join(args.workdir, "shipped.nchw.f32"))
        with open(os.path.join(args.workdir, "ort-shipped.json"), "w") as f:
            json.dump({"threads": 1, "runs": 0, "inputs": [
                {"nchw": "shipped.nchw.f32", "shape": dims, "out": "shipped"}]}, f)
        node("ort_run.cjs", args.shipped, os.path.join(args.workdir, "ort-shipped.json"))
        tor = OnnxRunner(shipped)(nchw)
        ort = np.fromfile(os.path.join(args.workdir, "shipped.ort.f32"), np.float32).reshape(tor.shape)
        print("\nshipped %s input %s: ORT vs torch interpreter max |diff| %.2e (max |out| %.2f)"
              % (os.path.normpath(args.shipped), "x".join(map(str, dims)),
                 np.abs(ort - tor).max(), np.abs(tor).max()))
    print("\nworst ORT-vs-face-api raw difference: %.2e" % worst)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Convert face-api's tiny face detector (npm @vladmandic/face-api, MIT) to the facekp
detector ONNX model with its metadata contract (docs/detector.md).

    cd training/detector && make          # npm ci + this script with the shipped settings
    /usr/bin/python3 convert.py --width 416 --height 320 --output ../../models/face-detector.onnx
"""
import argparse
import json
import os
import sys

import onnx

import tiny_face_detector as tfd
from faceapi_weights import load_manifest, sha256_of

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = "@vladmandic/face-api"

# Shipped decoding defaults, chosen with evaluate.py on the three photos (see MODELS.md).
DEFAULT_SCORE_THRESHOLD = 0.15
# Detector box -> landmark box mapping measured by evaluate.py --landmarks on
# ../shared/data/keypoints/test (dx, dy as fractions of the box's w, h; scale of max(w, h)).
DEFAULT_BOX_TO_LANDMARK = "0.017,0.025,0.792"


def package_version(package_dir):
    with open(os.path.join(package_dir, "package.json"), encoding="utf-8") as f:
        meta = json.load(f)
    return meta["name"], meta["version"], meta.get("license", "")


def build(package_dir, width, height, score_threshold, box_to_landmark, dynamic=False):
    name, version, licence = package_version(package_dir)
    manifest = os.path.join(package_dir, "model", "tiny_face_detector_model-weights_manifest.json")
    weights, files = load_manifest(manifest)
    shas = ["%s=%s" % (os.path.basename(f), sha256_of(f)) for f in files]
    metadata = {
        "facekp.task": "face-detection",
        "facekp.contract": "1",
        "facekp.input.width": str(width),
        "facekp.input.height": str(height),
        "facekp.input.multiple": str(tfd.STRIDE),
        "facekp.input.channels": "3",
        "facekp.input.color": "rgb",
        "facekp.input.mean": "0",
        "facekp.input.scale": "1",
        "facekp.input.resize": "letterbox-top-left",
        "facekp.input.pad_value": "0",
        "facekp.detector.type": "tiny-yolo2",
        "facekp.detector.output": "grid",
        "facekp.detector.stride": str(tfd.STRIDE),
        "facekp.detector.anchors": tfd.anchors_string(),
        "facekp.detector.anchor_layout": "tx,ty,tw,th,score",
        "facekp.detector.score_threshold": "%g" % score_threshold,
        "facekp.detector.nms_iou": "%g" % tfd.IOU_THRESHOLD,
        "facekp.detector.box_to_landmark_box": box_to_landmark,
        "facekp.source": "npm %s %s (%s), tiny_face_detector_model" % (name, version, licence),
        "facekp.source.sha256": ";".join(shas),
    }
    model = tfd.build_onnx(weights, width, height, metadata, dynamic=dynamic)
    return model, weights


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--package-dir", default=os.path.join(HERE, "node_modules", PACKAGE),
                    help="installed @vladmandic/face-api package (default: ./node_modules/...)")
    ap.add_argument("--width", type=int, default=640, help="input width, multiple of 32")
    ap.add_argument("--height", type=int, default=480, help="input height, multiple of 32")
    ap.add_argument("--score-threshold", type=float, default=DEFAULT_SCORE_THRESHOLD)
    ap.add_argument("--box-to-landmark", default=DEFAULT_BOX_TO_LANDMARK,
                    help="'dx,dy,scale' written as facekp.detector.box_to_landmark_box")
    ap.add_argument("--dynamic", action="store_true",
                    help="symbolic height/width (the engine must be told the size)")
    ap.add_argument("--output", default=os.path.join(HERE, "..", "..", "models",
                                                     "face-detector.onnx"))
    args = ap.parse_args(argv)
    if not os.path.isdir(args.package_dir):
        sys.exit("%s not found: run 'npm ci --omit=optional' in %s first"
                 % (args.package_dir, HERE))
    model, _ = build(args.package_dir, args.width, args.height, args.score_threshold,
                     args.box_to_landmark, args.dynamic)
    onnx.save(model, args.output)
    print("wrote %s (%d bytes)" % (os.path.normpath(args.output), os.path.getsize(args.output)))


if __name__ == "__main__":
    main()

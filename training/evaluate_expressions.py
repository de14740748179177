#!/usr/bin/python3
"""A landmark model's NME, error per group of points and expression agreement (the
expression values from its predicted points against the same values from the labels),
through the full-frame protocol in nn-core, as docs/accuracy.md#expressions reports them.

  /usr/bin/python3 evaluate_expressions.py ../models/facekp-landmarks68.onnx \
      --nn-lib ../build/nn-core/libfacekp-nn.so --data DATA/keypoints [--split training]

Prints one JSON line: NME, mean pixel error per group (contour, brows, nose, eyes, outer
and inner lips), and for mouth_open and eyes_closed Spearman's rho, the slope of the
predicted inner-lip ratio on the true one (below 1: the gaps shrink towards the average
face) and the at-rest state's confusion (TP, FN, FP, TN, balanced accuracy).
`expression_values.py` holds the C formulas (face/src/expressions.c) in numpy.
"""
import argparse
import json
import os
import tempfile

import numpy as np

import evaluate
import expression_values as ev
import facekp_data as data

GROUPS = {  # 0-based iBUG point ranges
    "contour": range(0, 17), "brows": range(17, 27), "nose": range(27, 36),
    "eyes": range(36, 48), "outer lips": range(48, 60), "inner lips": range(60, 68),
}


def columns(points):
    """The output columns (x, y interleaved) of the 0-based `points`."""
    return [2 * i + k for i in points for k in (0, 1)]


def report(name, pred, truth):
    """NME, per-group pixel error and the expression values' agreement, as a dict."""
    err = np.linalg.norm(pred - truth, axis=-1)
    out = {"set": name, "images": len(truth), "nme": round(float(data.nme(pred, truth).mean()), 5)}
    out["px"] = {g: round(float(err[:, list(r)].mean()), 3) for g, r in GROUPS.items()}
    mt, mp = ev.mouth_ratio(truth), ev.mouth_ratio(pred)
    slope, icpt = np.polyfit(mt, mp, 1)
    vt, vp = ev.mouth_open(truth), ev.mouth_open(pred)
    out["mouth"] = {"rho": round(ev.spearman(vt, vp), 3), "ratio_slope": round(float(slope), 3),
                    "ratio_intercept": round(float(icpt), 3),
                    "confusion": ev.confusion(vt >= ev.MOUTH_OPEN_AT_REST, vp >= ev.MOUTH_OPEN_AT_REST)}
    et, ep = ev.eyes_closed(truth), ev.eyes_closed(pred)
    out["eyes"] = {"rho": round(ev.spearman(et, ep), 3),
                   "confusion": ev.confusion(et >= ev.EYES_CLOSED_AT_REST, ep >= ev.EYES_CLOSED_AT_REST)}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="an exported landmark model (ONNX)")
    ap.add_argument("--nn-lib", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import onnx
    import fit_presence
    with tempfile.TemporaryDirectory() as tmp:
        plain = os.path.join(tmp, "points.onnx")
        onnx.save(fit_presence.strip_added_outputs(onnx.load(args.model)), plain)
        engine = evaluate.NnCoreEngine(plain, args.nn_lib, args.threads)
    contract = evaluate.Contract(engine.meta)
    _, images, truth = data.load_split(args.data, args.split)
    pred = evaluate.run_protocol(engine, contract, images, truth, "full-frame")
    print(json.dumps(report(f"{args.split} {os.path.basename(args.model)}", pred, truth)))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Measures a landmark model on a CSV split: NME mean, median, failure rate, CED plot.

  # PyTorch, from a training checkpoint
  /usr/bin/python3 evaluate.py --checkpoint runs/facekp112/last.pt --data DIR
  # the C engine (nn-core through ctypes), from the exported ONNX file
  /usr/bin/python3 evaluate.py --onnx ../models/facekp-landmarks68.onnx \
      --nn-lib ../build/nn-core/libfacekp-nn.so --data DIR

Protocols (the runtime's crops, docs/model-contract.md):
  full-frame  the whole image is the face crop, then `refine` re-crops from
              the predicted points (what face-source=full-frame does);
  points      the crop built from the true points (an ideal tracker).
Both engines get the same crops, made here, so a difference between them is
the engine's alone.
"""
import argparse
import ctypes
import json
import math
import os

import numpy as np

import facekp_data as data

FAILURE_THRESHOLD = 0.08


class Contract:
    """The keys of docs/model-contract.md that evaluation needs."""

    def __init__(self, meta):
        self.size = int(meta["facekp.input.size"])
        self.channels = int(meta["facekp.input.channels"])
        self.in_mean = float(meta["facekp.input.mean"])
        self.in_scale = float(meta["facekp.input.scale"])
        self.out_mean = float(meta["facekp.output.mean"])
        self.out_std = float(meta["facekp.output.std"])
        self.out_ref = float(meta["facekp.output.reference"])
        self.points_scale = float(meta["facekp.crop.points_scale"])
        self.points_angle = meta["facekp.crop.points_angle"]
        self.refine = int(meta["facekp.crop.refine"])

    def crop_from_points(self, points):
        centre, side = data.crop_from_points(points, self.points_scale)
        angle = 0.0
        if self.points_angle == "eye-line":
            left, right = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
            angle = math.atan2(right[1] - left[1], right[0] - left[0])
        return centre, side, angle

    def input_tensor(self, crop):
        x = ((crop - self.in_mean) * self.in_scale).astype(np.float32)
        return np.broadcast_to(x, (self.channels,) + x.shape)

    def decode(self, out):
        return ((out.reshape(-1, 2) * self.out_std + self.out_mean) / self.out_ref).astype(np.float64)


class TorchEngine:
    def __init__(self, checkpoint):
        import torch
        import export
        self.torch = torch
        self.model, self.meta = export.load_for_export(checkpoint)
        self.model.eval()

    def __call__(self, batch):
        with self.torch.no_grad():
            return self.model(self.torch.from_numpy(np.ascontiguousarray(batch))).numpy()


class NnCoreEngine:
    """libfacekp-nn through ctypes: one image at a time, as the runtime runs it."""

    def __init__(self, onnx_path, lib_path, threads=2):
        import onnx
        lib = ctypes.CDLL(lib_path)
        lib.fkp_net_new_from_file.restype = ctypes.c_void_p
        lib.fkp_net_new_from_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p]
        lib.fkp_net_get_input_data.restype = ctypes.POINTER(ctypes.c_float)
        lib.fkp_net_get_input_data.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lib.fkp_net_get_output_data.restype = ctypes.POINTER(ctypes.c_float)
        lib.fkp_net_get_output_data.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lib.fkp_net_run.restype = ctypes.c_int
        lib.fkp_net_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.fkp_net_set_threads.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.fkp_net_free.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.net = lib.fkp_net_new_from_file(onnx_path.encode(), None, None)
        if not self.net:
            raise SystemExit(f"nn-core could not load {onnx_path} (run `facekp-nn info` for the error)")
        lib.fkp_net_set_threads(self.net, threads)
        model = onnx.load(onnx_path, load_external_data=False)
        self.meta = {p.key: p.value for p in model.metadata_props}
        self.n_out = 2 * int(self.meta["facekp.points"])

    def __call__(self, batch):
        outs = []
        for x in batch:
            dst = self.lib.fkp_net_get_input_data(self.net, 0)
            ctypes.memmove(dst, np.ascontiguousarray(x, np.float32).ctypes.data, x.size * 4)
            if not self.lib.fkp_net_run(self.net, None):
                raise RuntimeError("fkp_net_run failed")
            outs.append(np.ctypeslib.as_array(self.lib.fkp_net_get_output_data(self.net, 0),
                                              (self.n_out,)).copy())
        return np.stack(outs)

    def __del__(self):
        if getattr(self, "net", None):
            self.lib.fkp_net_free(self.net)


def predict(engine, contract, images, windows, batch=32):
    """Runs the engine on the crops `windows` (centre, side, angle) and maps points back."""
    preds = []
    for i in range(0, len(images), batch):
        chunk = list(zip(images[i:i + batch], windows[i:i + batch]))
        x = np.stack([contract.input_tensor(data.warp_crop(g, c, s, a, contract.size))
                      for g, (c, s, a) in chunk])
        for out, (_, (c, s, a)) in zip(engine(x), chunk):
            preds.append(data.points_from_crop(contract.decode(out), c, s, a))
    return np.stack(preds)


def run_protocol(engine, contract, images, truth, protocol, refine=None):
    refine = contract.refine if refine is None else refine
    if protocol == "points":
        return predict(engine, contract, images, [contract.crop_from_points(p) for p in truth])
    windows = [(*data.crop_from_frame(g.shape[1], g.shape[0]), 0.0) for g in images]
    pred = predict(engine, contract, images, windows)
    for _ in range(refine):
        pred = predict(engine, contract, images, [contract.crop_from_points(p) for p in pred])
    return pred


def summary(errors):
    return {"images": int(len(errors)), "nme_mean": float(errors.mean()),
            "nme_median": float(np.median(errors)),
            "failure_rate": float((errors > FAILURE_THRESHOLD).mean())}


def plot_ced(curves, path):
    """Cumulative error distribution: fraction of images with NME <= x."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=110)
    xs = np.linspace(0, 0.15, 301)
    for label, errors in curves.items():
        ax.plot(xs, [(errors <= x).mean() for x in xs], label=label)
    ax.axvline(FAILURE_THRESHOLD, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("NME (normalised by outer eye-corner distance)")
    ax.set_ylabel("fraction of test images")
    ax.set_xlim(0, 0.15)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="training checkpoint (.pt): evaluate through PyTorch")
    src.add_argument("--onnx", help="exported model: evaluate through nn-core (needs --nn-lib)")
    ap.add_argument("--nn-lib", help="path to libfacekp-nn.so")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--held-out", type=float, default=0.0, metavar="F",
                    help="only the identities train.py --val-fraction F --seed SEED held out "
                         "(use with --split training)")
    ap.add_argument("--seed", type=int, default=1, help="train.py's --seed, for --held-out")
    ap.add_argument("--protocol", choices=["full-frame", "points"], default="full-frame")
    ap.add_argument("--refine", type=int, default=None, help="default: the model's facekp.crop.refine")
    ap.add_argument("--json", help="write the summary and per-image NME here")
    ap.add_argument("--ced", help="write a CED plot (PNG) here")
    ap.add_argument("--label", default=None, help="curve label in the plot")
    ap.add_argument("--compare", nargs="*", default=[], metavar="LABEL=JSON",
                    help="more CED curves from earlier --json outputs")
    args = ap.parse_args()

    engine = TorchEngine(args.checkpoint) if args.checkpoint else NnCoreEngine(args.onnx, args.nn_lib)
    contract = Contract(engine.meta)
    names, images, truth = data.load_split(args.data, args.split)
    if args.held_out > 0:
        (names, images, truth), _ = data.split_held_out(names, images, truth, args.held_out,
                                                         args.seed)
    errors = data.nme(run_protocol(engine, contract, images, truth, args.protocol, args.refine), truth)
    result = summary(errors)
    result.update({"protocol": args.protocol, "engine": "pytorch" if args.checkpoint else "nn-core",
                   "refine": contract.refine if args.refine is None else args.refine})
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**result, "per_image": dict(zip(names, errors.round(6).tolist()))}, f, indent=1)
    if args.ced:
        curves = {args.label or f"{result['engine']} {args.protocol}": errors}
        for item in args.compare:
            label, path = item.split("=", 1)
            with open(path) as f:
                curves[label] = np.array(list(json.load(f)["per_image"].values()))
        plot_ced(curves, args.ced)


if __name__ == "__main__":
    main()

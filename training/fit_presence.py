#!/usr/bin/python3
"""Fits a face-presence output and a per-point expected-error output onto a shipped
landmark model, from its frozen pooled features, and writes them into the ONNX file.

  /usr/bin/python3 fit_presence.py ../models/facekp-landmarks68.onnx OUT.onnx \
      --nn-lib ../build/nn-core/libfacekp-nn.so --data DATA/keypoints --photos DATA/photos \
      --boxes ../tests/data/photos-faces.json --cache /work/trust-cache

The network runs through nn-core (ctypes), on crops made here with the contract's
warp (facekp_data.warp_crop, the C runtime's formula), so the features are the
ones the element computes.  Every weight of the network stays as it is: the two
new outputs read the tensor the landmark head reads (the 1,024 pooled features
after the head's BatchNorm) through their own Gemm, so the `points` output is
unchanged bit for bit.

presence (a probability, [1, 1]) -- logistic regression on the features.
  Positives: the runtime's crops of the training identities: the whole frame
  (upright and turned by up to 25 degrees, as a detector box meets a rolled
  face) and the refinement crops from the points the network predicts there, and
  tracking crops (the true points' crop shifted, scaled and turned as a tracked
  face's crop moves between frames).
  Negatives: crops of what is not a face, with the refinement crops the runtime
  would make from their predicted points: windows of the shared photos away from
  every face, generated textures (noise at several grains, gradients, stripes,
  checkers, blobs), and every videotestsrc pattern rendered in the element's
  formats (RGB luma, the Y plane of YUV, GRAY8); and crops of faces that are no
  face crop: slid half off the face, a fraction of it, or several times too large.
  The L2 strength is chosen on held-out training identities (log loss); the test
  split (other identities, a held-out photo, other texture seeds) gives the ROC
  AUC and the rates at the threshold.

point_error ([1, 68]) -- per point, the expected distance between the predicted and
  the true point, as a fraction of the crop's side (multiply by the crop side in
  pixels for pixels): M * sigmoid(W z + b), fitted by least squares to the
  observed distances on the positive crops, so the number is a conditional mean.
  Calibration on the test split: training/plot_reliability.py.
"""
import argparse
import ctypes
import glob
import json
import math
import os
import subprocess
import tempfile

import numpy as np

import evaluate
import facekp_data as data

POINT_ERROR_MAX = 0.5      # M: the largest expected error the output can say (half a crop)
STRENGTHS = (1e-3, 1e-2, 1e-1, 1.0)
VIDEOTESTSRC_PATTERNS = 26
VIDEOTESTSRC_FORMATS = ("RGBA", "I420", "GRAY8")


# ---- the network, with its features as a second output ------------------------------------

def feature_tensor(graph):
    """The tensor the landmark head's first Gemm reads (the pooled, normalised features)."""
    for node in graph.node:
        if node.op_type == "Gemm":
            return node.input[0]
    raise SystemExit("no Gemm in the graph: not a landmark model with a dense head")


def strip_added_outputs(model):
    """A model with only its first output (fit_presence.py may be run on its own output)."""
    import onnx
    keep = model.graph.output[0].name
    needed = {keep}
    nodes = []
    for node in reversed(model.graph.node):
        if any(o in needed for o in node.output):
            nodes.append(node)
            needed.update(node.input)
    del model.graph.node[:]
    model.graph.node.extend(reversed(nodes))
    del model.graph.output[1:]
    inits = [t for t in model.graph.initializer if t.name in needed]
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)
    keys = [p for p in model.metadata_props if not p.key.startswith(("facekp.presence",
                                                                      "facekp.point_error"))]
    del model.metadata_props[:]
    model.metadata_props.extend(keys)
    return model


def features_model(onnx_path, out_path):
    import onnx
    model = strip_added_outputs(onnx.load(onnx_path))
    name = feature_tensor(model.graph)
    model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [1, 1024]))
    onnx.save(model, out_path)


class FeatureEngine(evaluate.NnCoreEngine):
    """nn-core on the model with its features as output 1: (raw outputs [n, 136], features [n, 1024])."""

    def __call__(self, batch):
        outs, feats = [], []
        for x in batch:
            dst = self.lib.fkp_net_get_input_data(self.net, 0)
            ctypes.memmove(dst, np.ascontiguousarray(x, np.float32).ctypes.data, x.size * 4)
            if not self.lib.fkp_net_run(self.net, None):
                raise RuntimeError("fkp_net_run failed")
            outs.append(np.ctypeslib.as_array(self.lib.fkp_net_get_output_data(self.net, 0),
                                              (self.n_out,)).copy())
            feats.append(np.ctypeslib.as_array(self.lib.fkp_net_get_output_data(self.net, 1),
                                               (1024,)).copy())
        return np.stack(outs), np.stack(feats)


def run_crops(engine, contract, images, windows):
    """Features and frame points of each (image, window)."""
    feats, points = [], []
    for g, (c, s, a) in zip(images, windows):
        x = contract.input_tensor(data.warp_crop(g, np.asarray(c, np.float64), s, a, contract.size))
        out, z = engine(x[None])
        feats.append(z[0])
        points.append(data.points_from_crop(contract.decode(out[0]), c, s, a))
    return np.stack(feats).astype(np.float32), np.stack(points)


def run_protocol(engine, contract, images, windows, passes):
    """The runtime's passes from first windows: [(features, windows, points)] per pass."""
    out = []
    for k in range(passes):
        z, points = run_crops(engine, contract, images, windows)
        out.append((z, windows, points))
        windows = [contract.crop_from_points(p) for p in points]
    return out


# ---- crops of faces -------------------------------------------------------------------------

def jittered(contract, points, rng, shift, scale, turn):
    c, s, a = contract.crop_from_points(points)
    r = s * shift[0] + (shift[1] - shift[0]) * s * rng.random()
    phi = rng.uniform(0, 2 * math.pi)
    return (c + r * np.array([math.cos(phi), math.sin(phi)]), s * rng.uniform(*scale),
            a + math.radians(rng.uniform(-turn, turn)))


def point_errors(contract, truth, windows, pred):
    """Per point distance between predicted and true points over the crop side."""
    return np.stack([np.linalg.norm(p - t, axis=1) / w[1] for p, t, w in zip(pred, truth, windows)])


def face_sets(engine, contract, images, truth, rng, roll=25.0):
    """(features, labels, point errors or NaN, kind) of the face-derived crops of a split."""
    zs, ys, es, kinds = [], [], [], []

    def add(z, label, err, kind):
        zs.append(z)
        ys.append(np.full(len(z), label, np.float32))
        es.append(err if err is not None else np.full((len(z), data.NUM_POINTS), np.nan, np.float32))
        kinds.extend([kind] * len(z))

    frames = [(*data.crop_from_frame(g.shape[1], g.shape[0]), 0.0) for g in images]
    angles = np.radians(rng.uniform(-roll, roll, len(images)))
    rolled = [(c, s, a) for (c, s, _), a in zip(frames, angles)]
    for name, start in (("face-upright", frames), ("face-rolled", rolled)):
        for k, (z, windows, pred) in enumerate(run_protocol(engine, contract, images, start,
                                                            contract.refine + 1)):
            add(z, 1, point_errors(contract, truth, windows, pred), f"{name}-pass{k}")
    tracking = [jittered(contract, p, rng, (0.0, 0.08), (0.9, 1.15), 12) for p in truth]
    z, pred = run_crops(engine, contract, images, tracking)
    add(z, 1, point_errors(contract, truth, tracking, pred), "face-tracking")
    for name, shift, scale in (("half-off", (0.45, 0.8), (0.9, 1.2)),
                               ("too-small", (0.0, 0.25), (0.2, 0.45)),
                               ("too-large", (0.0, 0.3), (3.5, 6.0))):
        windows = [jittered(contract, p, rng, shift, scale, 20) for p in truth]
        z, _ = run_crops(engine, contract, images, windows)
        add(z, 0, None, name)
    return np.concatenate(zs), np.concatenate(ys), np.concatenate(es), np.array(kinds)


# ---- crops of what is not a face ------------------------------------------------------------

def render_videotestsrc(pattern, fmt, width, height, frames):
    """The luma the element reads from `frames` frames of a videotestsrc pattern in `fmt`."""
    with tempfile.NamedTemporaryFile(suffix=".raw") as f:
        subprocess.run(["gst-launch-1.0", "-q", "videotestsrc", f"pattern={pattern}",
                        f"num-buffers={frames}", "!",
                        f"video/x-raw,format={fmt},width={width},height={height}", "!",
                        "filesink", f"location={f.name}"], check=True)
        raw = np.fromfile(f.name, np.uint8)
    per = {"RGBA": width * height * 4, "I420": width * height * 3 // 2, "GRAY8": width * height}[fmt]
    out = []
    for i in range(len(raw) // per):
        buf = raw[i * per:(i + 1) * per]
        if fmt == "RGBA":
            rgb = buf.reshape(height, width, 4).astype(np.float32)
            out.append(rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114)
        else:
            out.append(buf[:width * height].reshape(height, width).astype(np.float32))
    return out


def blur(img, sigma):
    if sigma <= 0:
        return img
    r = int(3 * sigma)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    img = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 0, img)
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 1, img)


def texture(rng, size=256):
    """One generated non-face image (float gray 0..255)."""
    kind = rng.integers(7)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == 0:
        img = blur(rng.uniform(0, 255, (size, size)), rng.choice([0, 1, 3, 8]))
    elif kind == 1:
        t = math.radians(rng.uniform(0, 180))
        img = (np.cos(t) * xx + np.sin(t) * yy) * rng.uniform(0.2, 1.0)
    elif kind == 2:
        t, period = math.radians(rng.uniform(0, 180)), rng.uniform(3, 60)
        img = 127.5 + 127.5 * np.sign(np.sin(2 * math.pi * (np.cos(t) * xx + np.sin(t) * yy) / period))
    elif kind == 3:
        cell = int(rng.integers(1, 40))
        img = ((xx // cell + yy // cell) % 2) * 255.0
    elif kind == 4:
        img = np.full((size, size), rng.uniform(0, 255))
    elif kind == 5:   # blobs: ellipses and rectangles, the shapes a face crop is made of
        img = np.full((size, size), rng.uniform(0, 255))
        for _ in range(rng.integers(2, 12)):
            cx, cy, rx, ry = rng.uniform(0, size, 2).tolist() + rng.uniform(4, 60, 2).tolist()
            mask = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1 if rng.random() < 0.6 else \
                (abs(xx - cx) < rx) & (abs(yy - cy) < ry)
            img[mask] = rng.uniform(0, 255)
        img = blur(img, rng.choice([0, 1, 2]))
    else:
        img = blur(rng.normal(128, 60, (size, size)), 1.5) + 80 * np.sin(xx / rng.uniform(5, 40))
    return np.clip(img, 0, 255).astype(np.float32)


def random_windows(rng, gray, count, min_side=10, max_frac=1.2):
    h, w = gray.shape
    out = []
    for _ in range(count):
        if rng.random() < 0.15:
            out.append((*data.crop_from_frame(w, h), 0.0))
            continue
        side = math.exp(rng.uniform(math.log(min_side), math.log(max_frac * max(w, h))))
        c = np.array([rng.uniform(0, w), rng.uniform(0, h)], np.float32)
        angle = 0.0 if rng.random() < 0.6 else math.radians(rng.uniform(-30, 30))
        out.append((c, side, angle))
    return out


def window_box(c, s):
    return (c[0] - s / 2, c[1] - s / 2, c[0] + s / 2, c[1] + s / 2)


def touches_face(c, s, boxes):
    """Whether the window holds a real part of a face: a fifth of a face box's area, or the
    face box covers a fifth of the window."""
    x0, y0, x1, y1 = window_box(c, s)
    for bx, by, bw, bh in boxes:
        iw = max(0.0, min(x1, bx + bw) - max(x0, bx))
        ih = max(0.0, min(y1, by + bh) - max(y0, by))
        if iw * ih > 0.2 * bw * bh or iw * ih > 0.2 * s * s:
            return True
    return False


def negative_set(engine, contract, sources, passes):
    """sources: [(kind, gray, windows, face boxes)].  All passes of the protocol from each
    window; crops that came onto a face (photos) are left out."""
    zs, kinds = [], []
    for kind, gray, windows, boxes in sources:
        for z, wins, _ in run_protocol(engine, contract, [gray] * len(windows), windows, passes):
            keep = np.array([not touches_face(c, s, boxes) for c, s, _ in wins], bool)
            zs.append(z[keep])
            kinds.extend([kind] * int(keep.sum()))
    return np.concatenate(zs), np.array(kinds)


def photo_sources(photos_dir, boxes_json, names, rng, count):
    with open(boxes_json) as f:
        faces = json.load(f)["images"]
    out = []
    for name in names:
        from PIL import Image
        gray = data.to_gray(Image.open(os.path.join(photos_dir, name)))
        boxes = faces[name]["faces"]
        wins = [w for w in random_windows(rng, gray, count * 3, 16, 0.6)
                if not touches_face(w[0], w[1], boxes)][:count]
        out.append(("photo", gray, wins, boxes))
    return out


def pattern_sources(rng, count):
    out = []
    for pattern in range(VIDEOTESTSRC_PATTERNS):
        for fmt in VIDEOTESTSRC_FORMATS:
            for width, height in ((320, 240), (640, 480)):
                frames = render_videotestsrc(pattern, fmt, width, height, 6)
                for gray in (frames[0], frames[-1]):
                    out.append(("videotestsrc", gray, random_windows(rng, gray, count, 8), []))
    return out


def texture_sources(rng, images, count):
    return [("texture", texture(rng), random_windows(rng, np.zeros((256, 256)), count, 12), [])
            for _ in range(images)]


def negative_makers(args):
    """The non-face sets: name -> function making their sources, each with its own seed
    (training: photos 2 and 4, test: photo 5; other texture and window draws)."""
    def rng(k):
        return np.random.default_rng(args.seed * 1000 + k)
    return {
        "photos-train": lambda: photo_sources(args.photos, args.boxes, ["sample2.jpg", "sample4.jpg"],
                                              rng(1), 500),
        "photos-test": lambda: photo_sources(args.photos, args.boxes, ["sample5.jpg"], rng(2), 400),
        "textures-train": lambda: texture_sources(rng(3), 150, 6),
        "textures-test": lambda: texture_sources(rng(4), 50, 6),
        "patterns-train": lambda: pattern_sources(rng(5), 4),
        "patterns-test": lambda: pattern_sources(rng(6), 2),
    }


# ---- fitting ----------------------------------------------------------------------------------

def fit_logistic(z, y, strength, weight):
    """w, b minimising weighted log loss + strength * |w|^2 / 2 (LBFGS in PyTorch)."""
    import torch
    zt, yt, wt = (torch.from_numpy(np.asarray(a, np.float64)) for a in (z, y, weight))
    w = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = zt @ w + b
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, yt, reduction="none")
                * wt).sum() / wt.sum() + 0.5 * strength * (w * w).sum()
        loss.backward()
        return loss
    opt.step(closure)
    return w.detach().numpy(), float(b.detach())


def fit_point_error(z, e, strength):
    """W [1024, 68], b [68] minimising |M sigmoid(zW + b) - e|^2 + strength |W|^2."""
    import torch
    zt = torch.from_numpy(np.asarray(z, np.float64))
    et = torch.from_numpy(np.asarray(e, np.float64))
    p0 = np.clip(e.mean(axis=0) / POINT_ERROR_MAX, 1e-4, 1 - 1e-4)
    w = torch.zeros((z.shape[1], e.shape[1]), dtype=torch.float64, requires_grad=True)
    b = torch.tensor(np.log(p0 / (1 - p0)), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        pred = POINT_ERROR_MAX * torch.sigmoid(zt @ w + b)
        loss = ((pred - et) ** 2).mean() + strength * (w * w).sum() / e.shape[1]
        loss.backward()
        return loss
    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def roc_auc(scores, labels):
    """Probability that a random positive scores above a random negative (ties count half)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    s = scores[order]
    i = 0
    while i < len(s):   # average ranks of ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = labels > 0.5
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(p, y):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def balance(y):
    """Weights giving positives and negatives equal total weight."""
    pos = y > 0.5
    return np.where(pos, 0.5 / max(pos.sum(), 1), 0.5 / max((~pos).sum(), 1)) * len(y)


def rates(p, y, kinds, threshold):
    out = {"true_positive_rate": float((p[y > 0.5] >= threshold).mean()),
           "false_positive_rate": float((p[y < 0.5] >= threshold).mean())}
    out["by_kind"] = {k: {"n": int((kinds == k).sum()),
                          "accepted": float((p[kinds == k] >= threshold).mean())}
                      for k in sorted(set(kinds.tolist()))}
    return out


# ---- writing the outputs into the model -----------------------------------------------------

def write_outputs(onnx_path, out_path, presence, point_error, meta):
    import onnx
    from onnx import helper, numpy_helper, TensorProto
    model = strip_added_outputs(onnx.load(onnx_path))
    g = model.graph
    feats = feature_tensor(g)
    wp, bp = presence
    we, be = point_error
    g.initializer.extend([
        numpy_helper.from_array(wp.reshape(1, -1).astype(np.float32), "presence.weight"),
        numpy_helper.from_array(np.array([bp], np.float32), "presence.bias"),
        numpy_helper.from_array(we.T.astype(np.float32), "point_error.weight"),
        numpy_helper.from_array(be.astype(np.float32), "point_error.bias"),
        numpy_helper.from_array(np.array([POINT_ERROR_MAX], np.float32), "point_error.max"),
    ])
    g.node.extend([
        helper.make_node("Gemm", [feats, "presence.weight", "presence.bias"], ["presence_logit"],
                         name="presence/Gemm", transB=1),
        helper.make_node("Sigmoid", ["presence_logit"], ["presence"], name="presence/Sigmoid"),
        helper.make_node("Gemm", [feats, "point_error.weight", "point_error.bias"],
                         ["point_error_logit"], name="point_error/Gemm", transB=1),
        helper.make_node("Sigmoid", ["point_error_logit"], ["point_error_unit"],
                         name="point_error/Sigmoid"),
        helper.make_node("Mul", ["point_error_unit", "point_error.max"], ["point_error"],
                         name="point_error/Mul"),
    ])
    g.output.extend([helper.make_tensor_value_info("presence", TensorProto.FLOAT, [1, 1]),
                     helper.make_tensor_value_info("point_error", TensorProto.FLOAT,
                                                   [1, data.NUM_POINTS])])
    props = {p.key: p.value for p in model.metadata_props}
    props.update(meta)
    onnx.helper.set_model_props(model, props)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, out_path)


# ---- main -------------------------------------------------------------------------------------

def cached(path, make):
    if os.path.exists(path):
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    result = make()
    np.savez(path, **result)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="shipped landmark model (ONNX)")
    ap.add_argument("out", help="model to write, with the presence and point_error outputs")
    ap.add_argument("--nn-lib", required=True)
    ap.add_argument("--data", required=True, help="keypoints folder")
    ap.add_argument("--photos", required=True, help="the shared photos folder")
    ap.add_argument("--boxes", required=True, help="photos-faces.json (hand-counted face boxes)")
    ap.add_argument("--cache", required=True, help="folder for the features (outside the repo)")
    ap.add_argument("--train-every", type=int, default=2, help="use every Nth training image")
    ap.add_argument("--threshold", type=float, default=0.05,
                    help="the runtime's default min_presence, for the reported rates (0.5 too)")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report", help="write the measurements (JSON) here")
    args = ap.parse_args()

    stem = os.path.splitext(os.path.basename(args.model))[0]
    cache = os.path.join(args.cache, stem)
    os.makedirs(cache, exist_ok=True)
    feat_model = os.path.join(cache, "features.onnx")
    features_model(args.model, feat_model)
    engine = FeatureEngine(feat_model, args.nn_lib, args.threads)
    contract = evaluate.Contract(engine.meta)
    passes = contract.refine + 1

    def faces(split, every, seed):
        def make():
            names, images, truth = data.load_split(args.data, split)
            idx = np.arange(0, len(names), every)
            held = data.held_out_identities(names, args.val_fraction, args.seed)[idx]
            z, y, e, kinds = face_sets(engine, contract, [images[i] for i in idx], truth[idx],
                                       np.random.default_rng(seed))
            per = len(z) // len(idx)   # face_sets adds one block of len(idx) per kind
            return {"z": z, "y": y, "e": e, "kinds": kinds, "held": np.tile(held, per)}
        return cached(os.path.join(cache, f"faces-{split}.npz"), make)

    def negatives(name, make_sources):
        def make():
            z, kinds = negative_set(engine, contract, make_sources(), passes)
            return {"z": z, "y": np.zeros(len(z), np.float32), "kinds": kinds}
        return cached(os.path.join(cache, f"neg-{name}.npz"), make)

    sets = {
        "faces-train": faces("training", args.train_every, args.seed),
        "faces-test": faces("test", 1, args.seed + 1),
    }
    sets.update({name: negatives(name, make) for name, make in negative_makers(args).items()})
    tr = sets["faces-train"]
    fit_mask = ~tr["held"]
    neg_fit = [sets[k] for k in ("photos-train", "textures-train", "patterns-train")]

    def stack(parts):
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]))

    # Negatives of the fit: the non-face sets split at random 90/10 for choosing the strength.
    rng = np.random.default_rng(args.seed + 7)
    neg_z = np.concatenate([n["z"] for n in neg_fit])
    neg_k = np.concatenate([n["kinds"] for n in neg_fit])
    neg_val = rng.random(len(neg_z)) < args.val_fraction
    z_fit, y_fit, k_fit = stack([(tr["z"][fit_mask], tr["y"][fit_mask], tr["kinds"][fit_mask]),
                                 (neg_z[~neg_val], np.zeros((~neg_val).sum()), neg_k[~neg_val])])
    z_val, y_val, _ = stack([(tr["z"][~fit_mask], tr["y"][~fit_mask], tr["kinds"][~fit_mask]),
                             (neg_z[neg_val], np.zeros(neg_val.sum()), neg_k[neg_val])])
    scores = {}
    for strength in STRENGTHS:
        w, b = fit_logistic(z_fit, y_fit, strength, balance(y_fit))
        p = sigmoid(z_val @ w + b)
        scores[strength] = log_loss(p, y_val)
        print(json.dumps({"presence_strength": strength, "val_log_loss": round(scores[strength], 5),
                          "val_auc": round(roc_auc(p, y_val), 5)}), flush=True)
    best = min(STRENGTHS, key=scores.get)
    z_all, y_all, _ = stack([(z_fit, y_fit, k_fit), (z_val, y_val, np.zeros(len(z_val)))])
    wp, bp = fit_logistic(z_all, y_all, best, balance(y_all))

    te = sets["faces-test"]
    neg_test = [sets[k] for k in ("photos-test", "textures-test", "patterns-test")]
    z_te, y_te, k_te = stack([(te["z"], te["y"], te["kinds"])]
                             + [(n["z"], n["y"], n["kinds"]) for n in neg_test])
    p_te = sigmoid(z_te @ wp + bp)
    presence_report = {"strength": best, "test_auc": roc_auc(p_te, y_te),
                       "test_log_loss": log_loss(p_te, y_te), "threshold": args.threshold,
                       "test_positives": int((y_te > 0.5).sum()), "test_negatives": int((y_te < 0.5).sum()),
                       **rates(p_te, y_te, k_te, args.threshold),
                       "at_0.5": rates(p_te, y_te, k_te, 0.5)}
    print(json.dumps({"presence": presence_report}), flush=True)

    # Point error: on the positive crops, fitted on the training identities outside the
    # held-out share, the strength chosen on it.
    pos = (tr["y"] > 0.5)
    e_fit_mask, e_val_mask = pos & fit_mask, pos & ~fit_mask
    best_e, best_loss = None, None
    for strength in (1e-5, 1e-4, 1e-3):
        we, be = fit_point_error(tr["z"][e_fit_mask], tr["e"][e_fit_mask], strength)
        pred = POINT_ERROR_MAX * sigmoid(tr["z"][e_val_mask] @ we + be)
        loss = float(((pred - tr["e"][e_val_mask]) ** 2).mean())
        print(json.dumps({"point_error_strength": strength, "val_mse": loss}), flush=True)
        if best_loss is None or loss < best_loss:
            best_e, best_loss = strength, loss
    we, be = fit_point_error(tr["z"][pos], tr["e"][pos], best_e)
    pos_te = te["y"] > 0.5
    pred_te = POINT_ERROR_MAX * sigmoid(te["z"][pos_te] @ we + be)
    obs_te = te["e"][pos_te]
    np.savez(os.path.join(cache, "point-error-test.npz"), predicted=pred_te, observed=obs_te,
             kinds=te["kinds"][pos_te])
    corr = float(np.corrcoef(pred_te.ravel(), obs_te.ravel())[0, 1])
    point_report = {"strength": best_e, "test_mean_predicted": float(pred_te.mean()),
                    "test_mean_observed": float(obs_te.mean()), "test_correlation": corr}
    print(json.dumps({"point_error": point_report}), flush=True)

    meta = {
        "facekp.presence.output": "presence",
        "facekp.presence.train": (
            f"logistic regression (L2 {best:g}) on the pooled features; faces: the runtime's crops "
            "of the training identities (whole frame upright and turned up to 25 degrees with "
            "refinements, tracking crops); non-faces: photo backgrounds, textures, videotestsrc "
            "patterns in RGBA, I420 and GRAY8 with refinements, crops half off, too small or too "
            "large for a face (training/fit_presence.py)"),
        "facekp.presence.eval": (f"test split and held-out non-faces: ROC AUC "
                                 f"{presence_report['test_auc']:.4f}; at {args.threshold:g}: "
                                 f"{presence_report['true_positive_rate']:.4f} of faces, "
                                 f"{presence_report['false_positive_rate']:.4f} of non-faces; at 0.5: "
                                 f"{presence_report['at_0.5']['true_positive_rate']:.4f} of faces, "
                                 f"{presence_report['at_0.5']['false_positive_rate']:.4f} of non-faces"),
        "facekp.point_error.output": "point_error",
        "facekp.point_error.unit": "crop-side",
    }
    write_outputs(args.model, args.out, (wp, bp), (we, be), meta)
    report = {"model": args.model, "presence": presence_report, "point_error": point_report,
              "samples": {k: int(len(v["z"])) for k, v in sets.items()}}
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=1)
    print(json.dumps({"wrote": args.out}))


if __name__ == "__main__":
    main()

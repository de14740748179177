#!/usr/bin/python3
"""Replaces a shipped landmark model's inner-lip points (60-67) by a fit that also reads
the network's local, higher-resolution features at the mouth, for the mouth_open value.

  # what is wrong: the expression values from predicted points against true ones
  /usr/bin/python3 fit_mouth.py diagnose ../models/facekp-landmarks68.onnx \
      --nn-lib ../build/nn-core/libfacekp-nn.so --data DATA/keypoints --cache DIR
  # the fit (training split only): writes OUT.onnx
  /usr/bin/python3 fit_mouth.py fit ../models/facekp-landmarks68.onnx OUT.onnx \
      --nn-lib ../build/nn-core/libfacekp-nn.so --data DATA/keypoints --cache DIR
  # a model's NME and expression agreement through the full-frame protocol
  /usr/bin/python3 fit_mouth.py evaluate OUT.onnx --nn-lib ... --data DATA/keypoints --cache DIR

Why (docs/accuracy.md#expressions): the shipped head reads the last stage's
features averaged over the crop, and its inner-lip points shrink the gap towards
the average mouth (predicted ratio against true: slope 0.34 on the training split
it was fitted on, 0.28 on the test split).  Neither a ridge readout of the last
stage's 4x4 map (the whole map, flattened) nor a direct regression of the mouth
value on it does better on held-out training identities: the gap is not in those
features.  The 14x14 maps of stage 3 (480 channels) and the stem's 28x28 maps (64
channels) still see it.  The refinement crops are placed and turned by the points,
so the mouth falls in about the same cells of every refinement crop: a fixed window
of each map around there is sliced out, its channels projected on their leading
principal directions (over the fit crops), and a ridge regression from those and the
pooled features to the inner-lip points (relative to the head's own outer-lip
centre, which it keeps) is fitted on the refinement crops (passes 1 and 2) of the
training split.  The strength is the one whose full protocol gives the best
mouth_open Spearman rho on held-out training identities; the final fit uses every
training identity.  The test split is read only by `diagnose` and `evaluate`.

In the graph: Slice, Flatten, Concat, one Gemm to 16 numbers, plus two small Gemms
that put them in place of the head's points 60-67; every other weight and output
stays (presence reads the same features as before; point_error was fitted to the
old points, so run fit_presence.py on the output).
"""
import argparse
import json
import os

import numpy as np

import evaluate
import expression_values as ev
import facekp_data as data

STRENGTHS = (1000.0, 3000.0, 10000.0, 30000.0, 100000.0)   # in n / d units (Ridge)
INNER_LIPS = list(range(60, 68))
OUTER_LIPS = list(range(48, 60))
# (tensor, rows, columns, principal directions kept): windows around where the mouth falls in
# the refinement crops of the 112² model (centre at cell 7.1, 8.6 of 14; rows vary by 0.3
# cell, columns by 1.4 between faces: turned heads).
LOCAL_MAPS = (("/stage3/stage3.1/Concat_output_0", (7, 11), (4, 11), 64),
              ("/stem/stem.3/BatchNormalization_output_0", (14, 21), (8, 22), 32))
GROUPS = {  # 0-based iBUG point ranges
    "contour": range(0, 17), "brows": range(17, 27), "nose": range(27, 36),
    "eyes": range(36, 48), "outer lips": range(48, 60), "inner lips": range(60, 68),
}


# ---- the network with feature maps as extra outputs ---------------------------------------

def pooled_tensor(graph):
    """The pooled features (GlobalAveragePool, flattened) the head reads through its BatchNorm."""
    for node in graph.node:
        if node.op_type == "GlobalAveragePool":
            pooled = node.output[0]
            for after in graph.node:
                if after.op_type == "Flatten" and after.input[0] == pooled:
                    return node.input[0], after.output[0]
    raise SystemExit("no GlobalAveragePool + Flatten: not a landmark model with a pooled head")


def tensor_shape(model, name):
    import onnx
    inferred = onnx.shape_inference.infer_shapes(model)
    for v in list(inferred.graph.value_info) + list(inferred.graph.output):
        if v.name == name:
            return [d.dim_value for d in v.type.tensor_type.shape.dim]
    raise SystemExit(f"no shape for {name}")


def base_model(onnx_path):
    """The model with `points` its only output (fit_presence.py's outputs stripped)."""
    import onnx
    import fit_presence
    model = onnx.load(onnx_path)
    if any(n.name == "mouth_gemm" for n in model.graph.node):
        raise SystemExit(f"{onnx_path} has a mouth fit already: start from the model before it")
    return fit_presence.strip_added_outputs(model)


def features_model(onnx_path, out_path, names):
    """The model with the tensors `names` as outputs 1, 2, ...; returns their shapes."""
    import onnx
    model = base_model(onnx_path)
    shapes = [tensor_shape(model, n) for n in names]
    for n, shape in zip(names, shapes):
        model.graph.output.append(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, shape))
    onnx.save(model, out_path)
    return shapes


class FeatureEngine(evaluate.NnCoreEngine):
    """nn-core on a features model: (raw outputs [136], [each extra output, shaped])."""

    def __init__(self, onnx_path, lib_path, shapes, threads=2):
        super().__init__(onnx_path, lib_path, threads)
        self.shapes = [tuple(s[1:]) for s in shapes]

    def run(self, x):
        import ctypes
        dst = self.lib.fkp_net_get_input_data(self.net, 0)
        ctypes.memmove(dst, np.ascontiguousarray(x, np.float32).ctypes.data, x.size * 4)
        if not self.lib.fkp_net_run(self.net, None):
            raise RuntimeError("fkp_net_run failed")
        out = np.ctypeslib.as_array(self.lib.fkp_net_get_output_data(self.net, 0), (self.n_out,)).copy()
        extra = [np.ctypeslib.as_array(self.lib.fkp_net_get_output_data(self.net, i + 1), s).copy()
                 for i, s in enumerate(self.shapes)]
        return out, extra


def crop_tensor(contract, gray, window):
    c, s, a = window
    return contract.input_tensor(data.warp_crop(gray, np.asarray(c, np.float64), s, a, contract.size))


def run_protocol(engine, contract, images, windows):
    """The runtime's passes with the model's own points: [(head outputs, pooled features,
    windows)] per pass, and the final points."""
    passes = []
    for _ in range(contract.refine + 1):
        raws, pooled = [], []
        for g, w in zip(images, windows):
            raw, (spatial,) = engine.run(crop_tensor(contract, g, w))
            raws.append(raw)
            pooled.append(spatial.reshape(spatial.shape[0], -1).mean(axis=1))
        raws = np.stack(raws)
        passes.append((raws, np.stack(pooled), windows))
        points = np.stack([data.points_from_crop(contract.decode(r), *w) for r, w in zip(raws, windows)])
        windows = [contract.crop_from_points(p) for p in points]
    return passes, points


def cached(path, make):
    if os.path.exists(path):
        return np.load(path, allow_pickle=True)["value"].item()
    value = make()
    box = np.empty((), dtype=object)
    box[()] = value
    np.savez(path, value=box)
    return value


# ---- measures -------------------------------------------------------------------------------

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


# ---- the fit --------------------------------------------------------------------------------

class Ridge:
    """Ridge fits of y on x for several strengths from one eigendecomposition of the
    standardised Gram matrix; strength s penalises s * n / d * |W|^2 on standardised x."""

    def __init__(self, x, y):
        self.xm, self.ym = x.mean(axis=0), y.mean(axis=0)
        self.xs = x.std(axis=0) + 1e-6
        xc = (x - self.xm) / self.xs
        self.evals, self.evecs = np.linalg.eigh(xc.T @ xc)
        self.proj = self.evecs.T @ (xc.T @ (y - self.ym))
        self.n, self.d = x.shape

    def solve(self, strength):
        w = self.evecs @ (self.proj / (self.evals + strength * self.n / self.d)[:, None])
        w = w / self.xs[:, None]
        return w, self.ym - self.xm @ w


def local_windows(engine, contract, images, windows):
    """The LOCAL_MAPS windows of each crop, [n, channels, rows, columns] per map."""
    out = [[] for _ in LOCAL_MAPS]
    for g, w in zip(images, windows):
        _, maps = engine.run(crop_tensor(contract, g, w))
        for o, m, (_, rows, cols, _) in zip(out, maps, LOCAL_MAPS):
            o.append(m[:, rows[0]:rows[1], cols[0]:cols[1]])
    return [np.stack(o) for o in out]


def principal_directions(windows, k):
    """[channels, k]: the leading principal directions of the channel vectors of every cell."""
    n, c = windows.shape[:2]
    cells = windows.reshape(n, c, -1).transpose(0, 2, 1).reshape(-1, c)
    vals, vecs = np.linalg.eigh(np.cov(cells[::3].T))
    return vecs[:, ::-1][:, :k], float(vals[::-1][:k].sum() / vals.sum())


def design(locals_, pooled, bases):
    """Features: each window's cells projected on its basis (cell-major), then the pooled."""
    parts = []
    for w, b in zip(locals_, bases):
        n, c = w.shape[:2]
        parts.append(np.einsum("ncl,ck->nlk", w.reshape(n, c, -1), b).reshape(n, -1))
    return np.concatenate(parts + [pooled], axis=1)


def columns(points):
    return [2 * i + k for i in points for k in (0, 1)]


def outer_centre(raw):
    """[n, 16]: the head's outer-lip centre (crop units), repeated for each inner-lip x, y."""
    return np.tile(raw.reshape(len(raw), -1, 2)[:, OUTER_LIPS].mean(axis=1), len(INNER_LIPS))


def targets(contract, truth, raw, windows):
    q = np.stack([data.points_to_crop(t, *w) for t, w in zip(truth, windows)]).reshape(len(truth), -1)
    enc = (q * contract.out_ref - contract.out_mean) / contract.out_std
    return enc[:, columns(INNER_LIPS)] - outer_centre(raw)


def with_inner_lips(contract, raw, windows, inner):
    """Frame points from head outputs whose inner-lip outputs are replaced by `inner` [n, 16]."""
    out = raw.copy()
    out[:, columns(INNER_LIPS)] = inner
    return np.stack([data.points_from_crop(contract.decode(r), *w) for r, w in zip(out, windows)])


def expand(w, bases, shapes):
    """Weights on the design's reduced features -> weights on the flattened windows and pooled."""
    parts, at = [], 0
    for b, shape in zip(bases, shapes):
        cells = shape[1] * shape[2]
        k = b.shape[1]
        wl = w[at:at + cells * k].reshape(cells, k, -1)
        parts.append(np.einsum("ck,lko->clo", b, wl).reshape(b.shape[0] * cells, -1))
        at += cells * k
    parts.append(w[at:])
    return np.concatenate(parts).astype(np.float32)


def write_model(onnx_path, out_path, w, c, meta):
    """points = head + place(Gemm([windows..., pooled]) + (centre - select)(head))."""
    import onnx
    from onnx import helper, numpy_helper
    base_model(onnx_path)   # refuses a model that has a mouth fit already
    model = onnx.load(onnx_path)
    g = model.graph
    _, pooled = pooled_tensor(g)
    head_out = g.output[0].name
    for node in g.node:
        for i, o in enumerate(node.output):
            if o == head_out:
                node.output[i] = "points_head"
    n_out, n_in = 2 * data.NUM_POINTS, 2 * len(INNER_LIPS)
    select = np.zeros((n_out, n_in), np.float32)    # head outputs -> its inner lips
    centre = np.zeros((n_out, n_in), np.float32)    # head outputs -> outer-lip centre
    place = np.zeros((n_in, n_out), np.float32)
    for j, col in enumerate(columns(INNER_LIPS)):
        select[col, j] = 1.0
        place[j, col] = 1.0
        for p in OUTER_LIPS:
            centre[2 * p + j % 2, j] = 1.0 / len(OUTER_LIPS)
    inits = {"mouth.weight": np.ascontiguousarray(w.T), "mouth.bias": c.astype(np.float32),
             "mouth.centre": centre - select, "mouth.place": place,
             "mouth.zero16": np.zeros(n_in, np.float32), "mouth.zero136": np.zeros(n_out, np.float32)}
    flats = []
    for i, (name, rows, cols, _) in enumerate(LOCAL_MAPS):
        inits[f"mouth.slice{i}.starts"] = np.array([rows[0], cols[0]], np.int64)
        inits[f"mouth.slice{i}.ends"] = np.array([rows[1], cols[1]], np.int64)
        inits[f"mouth.slice{i}.axes"] = np.array([2, 3], np.int64)
        g.node.extend([
            helper.make_node("Slice", [name, f"mouth.slice{i}.starts", f"mouth.slice{i}.ends",
                                       f"mouth.slice{i}.axes"], [f"mouth_window{i}"], name=f"mouth_slice{i}"),
            helper.make_node("Flatten", [f"mouth_window{i}"], [f"mouth_flat{i}"], axis=1,
                             name=f"mouth_flatten{i}")])
        flats.append(f"mouth_flat{i}")
    g.initializer.extend(numpy_helper.from_array(v, k) for k, v in inits.items())
    g.node.extend([
        helper.make_node("Concat", flats + [pooled], ["mouth_features"], axis=1, name="mouth_concat"),
        helper.make_node("Gemm", ["mouth_features", "mouth.weight", "mouth.bias"], ["mouth_relative"],
                         transB=1, name="mouth_gemm"),
        helper.make_node("Gemm", ["points_head", "mouth.centre", "mouth.zero16"], ["mouth_offset"],
                         name="mouth_offset"),
        helper.make_node("Add", ["mouth_relative", "mouth_offset"], ["mouth_delta"], name="mouth_add"),
        helper.make_node("Gemm", ["mouth_delta", "mouth.place", "mouth.zero136"], ["mouth_placed"],
                         name="mouth_place"),
        helper.make_node("Add", ["points_head", "mouth_placed"], [head_out], name="points_add"),
    ])
    keys = [p for p in model.metadata_props if p.key not in meta]
    del model.metadata_props[:]
    model.metadata_props.extend(keys)
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    onnx.save(model, out_path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("diagnose", "fit", "evaluate"))
    ap.add_argument("model", help="the shipped ONNX model (diagnose, fit) or any (evaluate)")
    ap.add_argument("out", nargs="?", help="fit: the ONNX file to write")
    ap.add_argument("--nn-lib", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--cache", required=True, help="folder for the feature runs (GBs)")
    ap.add_argument("--split", default="test", help="diagnose/evaluate: the split to measure")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    tag = os.path.splitext(os.path.basename(args.model))[0]

    if args.mode == "evaluate":
        import onnx
        import fit_presence
        plain = os.path.join(args.cache, tag + "-points.onnx")
        onnx.save(fit_presence.strip_added_outputs(onnx.load(args.model)), plain)
        engine = evaluate.NnCoreEngine(plain, args.nn_lib, args.threads)
        contract = evaluate.Contract(engine.meta)
        _, images, truth = data.load_split(args.data, args.split)
        pred = evaluate.run_protocol(engine, contract, images, truth, "full-frame")
        print(json.dumps(report(f"{args.split} {os.path.basename(args.model)}", pred, truth)))
        return

    base = base_model(args.model)
    spatial, _ = pooled_tensor(base.graph)
    feats = os.path.join(args.cache, tag + "-spatial.onnx")
    engine = FeatureEngine(feats, args.nn_lib, features_model(args.model, feats, [spatial]), args.threads)
    contract = evaluate.Contract(engine.meta)

    def protocol(split, images):
        return cached(os.path.join(args.cache, f"{tag}-{split}-protocol.npz"),
                      lambda: run_protocol(engine, contract, images, [
                          (*data.crop_from_frame(g.shape[1], g.shape[0]), 0.0) for g in images]))

    if args.mode == "diagnose":
        for split in ("training", args.split):
            _, images, truth = data.load_split(args.data, split)
            print(json.dumps(report(split, protocol(split, images)[1], truth)), flush=True)
        return

    if contract.size != 112:
        raise SystemExit("LOCAL_MAPS are the windows of a 112² model: measure where the mouth "
                         f"falls in a {contract.size}² model's maps first")
    names, images, truth = data.load_split(args.data, "training")
    held = data.held_out_identities(names, args.val_fraction, args.seed)
    passes, _ = protocol("training", images)
    local_feats = os.path.join(args.cache, tag + "-local.onnx")
    local_shapes = features_model(args.model, local_feats, [m[0] for m in LOCAL_MAPS])
    local_engine = FeatureEngine(local_feats, args.nn_lib, local_shapes, args.threads)
    # The refinement passes' crops: where the mouth sits in about the same cells.
    refine = [k for k in range(1, contract.refine + 1)]
    windows = {k: cached(os.path.join(args.cache, f"{tag}-training-local-pass{k}.npz"),
                         lambda k=k: local_windows(local_engine, contract, images, passes[k][2]))
               for k in refine}
    bases, kept = zip(*(principal_directions(np.concatenate([windows[k][i][~held] for k in refine]), m[3])
                        for i, m in enumerate(LOCAL_MAPS)))
    print(json.dumps({"variance_kept": [round(v, 4) for v in kept]}), flush=True)
    x = {k: design(windows[k], passes[k][1], bases) for k in refine}
    y = {k: targets(contract, truth, passes[k][0], passes[k][2]) for k in refine}

    def fit(mask):
        return Ridge(np.concatenate([x[k][mask] for k in refine]), np.concatenate([y[k][mask] for k in refine]))

    # Held-out identities: the last pass's crops with the inner lips from the fit.  (The
    # inner lips do not move the next crop much: they sit inside the outer lips.)
    last = contract.refine
    val_windows = [w for w, h in zip(passes[last][2], held) if h]
    val_truth = truth[held]
    shipped = with_inner_lips(contract, passes[last][0][held], val_windows,
                              passes[last][0][held][:, columns(INNER_LIPS)])
    print(json.dumps({"strength": "shipped head", "val": report("val", shipped, val_truth)}), flush=True)
    ridge = fit(~held)
    scores = {}
    for s in STRENGTHS:
        w, c = ridge.solve(s)
        inner = x[last][held] @ w + c + outer_centre(passes[last][0][held])
        pred = with_inner_lips(contract, passes[last][0][held], val_windows, inner)
        r = report("val", pred, val_truth)
        scores[s] = r["mouth"]["rho"]
        print(json.dumps({"strength": s, "val": r}), flush=True)
    best = max(STRENGTHS, key=scores.get)
    w, c = fit(np.ones(len(truth), bool)).solve(best)
    shapes = [(s[1], m[1][1] - m[1][0], m[2][1] - m[2][0]) for s, m in zip(local_shapes, LOCAL_MAPS)]
    meta = {"facekp.train.mouth": (
        "inner-lip points 60-67 refitted by ridge regression (strength %g, chosen by the mouth_open "
        "Spearman rho on held-out training identities) on windows of %s and the pooled features, "
        "refinement crops of the training split (training/fit_mouth.py)"
        % (best, ", ".join(f"{m[0]} rows {m[1][0]}-{m[1][1] - 1} columns {m[2][0]}-{m[2][1] - 1}"
                           for m in LOCAL_MAPS)))}
    write_model(args.model, args.out, expand(w, bases, shapes), c, meta)
    print(json.dumps({"wrote": args.out, "strength": best}))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Trains a region refiner: a small CNN that reads one window of the 112² crop (the mouth,
or the eyes) at the crop's full resolution and predicts that region's points, grafted into
an exported landmark model in place of the head's points there.

  /usr/bin/python3 train_refiner.py fit ../models/facekp-landmarks68.onnx OUT.onnx --region mouth \
      --nn-lib ../build/nn-core/libfacekp-nn.so --data DATA/keypoints --cache DIR
  # where the region's labelled points fall in the refinement crops (to choose a window)
  /usr/bin/python3 train_refiner.py measure MODEL.onnx --region eyes --nn-lib ... --data ... --cache DIR
  # the model without the region's refiner (for the mouth, also the ridge fit of inner-lip
  # points 60-67 the default model had before, from the retired fit_mouth.py)
  /usr/bin/python3 train_refiner.py strip MODEL.onnx OUT.onnx --region mouth
  # then measure it (test split, full-frame protocol through nn-core):
  /usr/bin/python3 evaluate_expressions.py OUT.onnx --nn-lib ... --data DATA/keypoints

Why (docs/accuracy.md#expressions): mouth_open reads the inner-lip gap and eyes_closed the
lid gaps, a few pixels on these faces.  The head reads features pooled over the whole
crop, which shrink such gaps towards the average face; a ridge fit on windows of the
stage-3 and stem maps (the retired fit_mouth.py) got the mouth's ranking from rho 0.49 to
0.62, short of 0.85.  The crop itself still has every pixel: the refinement crops are placed and
turned by the points, so the mouth and the eyes fall in about the same window of each,
and a CNN on that window sees the lips and lids as sharply as the frame shows them.

Training data: the runtime's refinement crops (passes 1..refine of the full-frame
protocol, run through nn-core with the head alone) of the training split, each also
moved, scaled and turned a little (the spread of crops a tracker makes) and mirrored,
with brightness, contrast, blur and noise varied.  Targets are the true points in the
crop's coordinates.  10 % of the training identities are held out to choose the epoch by
the Spearman rho of the region's expression measure on their last-pass crops; the test
split is read only by evaluate_expressions.py.

In the graph: Slice of the input, Conv+Relu stages each ending in a MaxPool, two Gemm
(BatchNorm folded), and a Mul + Gemm + Add that put its numbers in place of the head's;
every other output (presence, point_error) is left as it is.  Refiners of different
regions stack.
"""
import argparse
import json
import math
import os
import time

import numpy as np

import evaluate
import evaluate_expressions as ee
import expression_values as ev
import facekp_data as data
import fit_presence

# Each region: the points it predicts, the window of the 112² crop it reads (rows, columns;
# end exclusive; columns symmetric about the crop's centre so that a mirrored crop has the
# same window), the points its loss weighs twice and the pairs of points whose distances
# the expression values read (--gap-weight).  Windows from where the labelled points
# fall in the training split's refinement crops (`train_refiner.py measure`), with room for
# the jitter (crops moved by up to 3.4 pixels).  Mouth: y 50.6-85.9 and x 25.5-85.3 hold 99.8 % and
# 99.6 % of the lip points; eyes: y 18.7-52.3 and x 18.2-92.4, 99.8 % and 99.6 %.
REGIONS = {
    "mouth": {"points": list(range(48, 68)), "rows": (44, 92), "cols": (20, 92),
              "weighted": list(range(60, 68)), "gaps": [(61, 67), (62, 66), (63, 65), (48, 54)]},
    "eyes": {"points": list(range(36, 48)), "rows": (16, 56), "cols": (12, 100),
             "weighted": [37, 38, 40, 41, 43, 44, 46, 47],
             "gaps": [(37, 41), (38, 40), (36, 39), (43, 47), (44, 46), (42, 45)]},
}
# The shipped refiner's conv stages (channels x convs, a 2x2 max pool after each) and fc.
STAGES = "16x1,32x2,64x2"
HIDDEN = 128
JITTERS = 6          # jittered copies of each refinement crop (the first is the crop itself)


def cached(path, make):
    """`make()`'s value, kept in `path` (a pickled numpy object: the protocol's passes and
    the samples are nested lists and tuples) for the next run."""
    if os.path.exists(path):
        return np.load(path, allow_pickle=True)["value"].item()
    value = make()
    box = np.empty((), dtype=object)
    box[()] = value
    np.savez(path, value=box)
    return value


def flip_permutation(region):
    """Index into the region's points of each point's mirror image."""
    pts = region["points"]
    return np.array([pts.index(int(data.FLIP_PERMUTATION[p])) for p in pts])


def window_of(region, crop):
    (r0, r1), (c0, c1) = region["rows"], region["cols"]
    return crop[..., r0:r1, c0:c1]


def protocol_windows(engine, contract, images):
    """The full-frame protocol's crops (centre, side, angle) of every pass and the engine's
    raw outputs on them: [(raw [n, 136], windows)] per pass."""
    windows = [(*data.crop_from_frame(g.shape[1], g.shape[0]), 0.0) for g in images]
    passes = []
    for _ in range(contract.refine + 1):
        raws = []
        for g, (c, s, a) in zip(images, windows):
            raws.append(engine([contract.input_tensor(data.warp_crop(g, c, s, a, contract.size))])[0])
        raws = np.stack(raws)
        passes.append((raws, windows))
        points = [data.points_from_crop(contract.decode(r), *w) for r, w in zip(raws, windows)]
        windows = [contract.crop_from_points(p) for p in points]
    return passes


def jittered(window, rng, shift=0.03, scale=0.06, turn=6.0):
    """The crop moved by up to `shift` of its side, scaled by up to e^±`scale`, turned by up
    to ±`turn` degrees: the spread of crops a tracker makes."""
    (c, s, a) = window
    c = np.asarray(c, np.float64) + rng.uniform(-shift, shift, 2) * s
    return c, s * math.exp(rng.uniform(-scale, scale)), a + math.radians(rng.uniform(-turn, turn))


def samples(region, contract, images, truth, pass_windows, copies, rng):
    """(windows [n, 1, rows, cols] float32, the region's points [n, 2 * points] in crop units)."""
    xs, ys = [], []
    for g, t, ws in zip(images, truth, zip(*pass_windows)):
        for w in ws:
            for k in range(copies):
                c, s, a = w if k == 0 else jittered(w, rng)
                crop = contract.input_tensor(data.warp_crop(g, np.asarray(c, np.float64), s, a,
                                                            contract.size))
                xs.append(window_of(region, crop))
                ys.append(data.points_to_crop(t, c, s, a)[region["points"]].reshape(-1))
    return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)


def parse_stages(text):
    """"16x1,32x2" -> [(16, 1), (32, 2)]: each stage's channels and 3x3 convs."""
    return [tuple(int(v) for v in stage.split("x")) for stage in text.split(",")]


def build_net(torch, region, stages, hidden):
    """The refiner in PyTorch: conv stages (each its convs, then a 2x2 max pool), fc
    `hidden`, the region's points."""
    nn = torch.nn
    layers, cin = [], 1
    for c, convs in stages:
        for _ in range(convs):
            layers += [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            cin = c
        layers.append(nn.MaxPool2d(2))
    rows = (region["rows"][1] - region["rows"][0]) >> len(stages)
    cols = (region["cols"][1] - region["cols"][0]) >> len(stages)
    layers += [nn.Flatten(), nn.Linear(cin * rows * cols, hidden), nn.ReLU(),
               nn.Linear(hidden, 2 * len(region["points"]))]
    return nn.Sequential(*layers)


def mirror(torch, x, y, flip_perm):
    """Windows [n, 1, rows, cols] and their points [n, 2k] (crop units), mirrored."""
    # The window is symmetric about the crop's centre column: x -> 1 - x in crop units.
    ym = y.view(len(y), -1, 2)[:, flip_perm].clone()
    ym[..., 0] = 1.0 - ym[..., 0]
    return torch.flip(x, dims=[3]), ym.reshape(len(y), -1)


def augment(torch, x, y, flip_perm, gen):
    """Mirror half the batch, vary contrast, brightness, sharpness and noise."""
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    if flip.any():
        x, y = x.clone(), y.clone()
        x[flip], y[flip] = mirror(torch, x[flip], y[flip], flip_perm)
    contrast = torch.exp(torch.empty(n, 1, 1, 1).uniform_(-0.35, 0.35, generator=gen))
    bright = torch.empty(n, 1, 1, 1).uniform_(-0.25, 0.25, generator=gen)
    x = x * contrast + bright
    blur = torch.rand(n, generator=gen) < 0.3
    if blur.any():
        k = torch.tensor([0.25, 0.5, 0.25])
        kern = (k[:, None] * k[None, :]).view(1, 1, 3, 3)
        x = x.clone()
        x[blur] = torch.nn.functional.conv2d(x[blur], kern, padding=1)
    sigma = torch.empty(n, 1, 1, 1).uniform_(0.0, 0.04, generator=gen)
    return x + sigma * torch.randn(x.shape, generator=gen), y


def centred(pred):
    """[n, 2k] points less their centroid (x and y apart): the shape the refiner gives."""
    k = pred.shape[1] // 2
    return pred - np.tile(pred.reshape(-1, k, 2).mean(axis=1), k)


def points_into(region, contract, raw, windows, pred):
    """Frame points from head outputs whose region has the head's centroid and the shape of
    `pred` (crop units, any centroid)."""
    out = raw.copy()
    cols = ee.columns(region["points"])
    head_centroid = raw[:, cols] - centred(raw[:, cols])
    out[:, cols] = head_centroid + centred(pred) * contract.out_ref / contract.out_std
    return np.stack([data.points_from_crop(contract.decode(r), *w) for r, w in zip(out, windows)])


def predict(torch, net, x, batch=512):
    net.eval()
    with torch.no_grad():
        return np.concatenate([net(torch.from_numpy(x[i:i + batch])).numpy()
                               for i in range(0, len(x), batch)])


def fold(torch, net):
    """[(kind, weight, bias, pooled)] with each BatchNorm folded into the conv before it;
    `pooled`: a max pool follows the conv's ReLU."""
    layers, mods = [], list(net)
    for i, m in enumerate(mods):
        if isinstance(m, torch.nn.Conv2d):
            bn = mods[i + 1]
            scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
            w = (m.weight.detach() * scale[:, None, None, None]).numpy()
            b = (bn.bias.detach() - bn.running_mean * scale).numpy()
            layers.append(("conv", w, b, isinstance(mods[i + 3], torch.nn.MaxPool2d)))
        elif isinstance(m, torch.nn.Linear):
            layers.append(("gemm", m.weight.detach().numpy(), m.bias.detach().numpy(), False))
    return layers


def write_model(onnx_path, out_path, name, region, layers, contract, meta):
    """points = before @ keep + refiner(Slice(image)) @ place, every node and weight named
    `name`_... / `name`. ... so that `strip` can take it out again.  `keep` passes every
    other point through and puts the region's centroid (from `before`) on each of its
    points; `place` adds the refiner's shape (its points less their centroid)."""
    import onnx
    from onnx import helper, numpy_helper
    model = onnx.load(onnx_path)
    g = model.graph
    if any(n.name.startswith(name + "_") for n in g.node):
        raise SystemExit(f"{onnx_path} has a {name} refiner already: strip it first (`strip`)")
    points_out = g.output[0].name
    before = f"{name}_before"
    for node in g.node:
        for i, o in enumerate(node.output):
            if o == points_out:
                node.output[i] = before
    n_out, k = 2 * data.NUM_POINTS, len(region["points"])
    cols = ee.columns(region["points"])
    keep = np.eye(n_out, dtype=np.float32)
    place = np.zeros((2 * k, n_out), np.float32)
    for j, col in enumerate(cols):
        keep[col, col] = 0.0
        for src in cols[j % 2::2]:     # the same coordinate (x or y) of every region point
            keep[src, col] = 1.0 / k
        place[j, col] = 1.0
    # The shape: less its centroid; the refiner gives crop units, the output is encoded.
    centring = np.eye(2 * k) - np.kron(np.full((k, k), 1.0 / k), np.eye(2))
    place = (centring @ place * (contract.out_ref / contract.out_std)).astype(np.float32)
    (r0, r1), (c0, c1) = region["rows"], region["cols"]
    inits = {f"{name}.starts": np.array([r0, c0], np.int64),
             f"{name}.ends": np.array([r1, c1], np.int64),
             f"{name}.axes": np.array([2, 3], np.int64),
             f"{name}.keep": keep, f"{name}.place": place,
             f"{name}.zero": np.zeros(n_out, np.float32)}

    def node(op, inputs, output, **attrs):
        return helper.make_node(op, inputs, [output], name=output, **attrs)
    nodes = [node("Slice", [g.input[0].name, f"{name}.starts", f"{name}.ends", f"{name}.axes"],
                  f"{name}_window")]
    x = f"{name}_window"
    for i, (kind, w, b, pooled) in enumerate(layers):
        wn, bn = f"{name}.{i}.weight", f"{name}.{i}.bias"
        inits[wn], inits[bn] = w.astype(np.float32), b.astype(np.float32)
        if kind == "conv":
            nodes += [node("Conv", [x, wn, bn], f"{name}_conv{i}", kernel_shape=[3, 3],
                           pads=[1, 1, 1, 1]),
                      node("Relu", [f"{name}_conv{i}"], f"{name}_relu{i}")]
            x = f"{name}_relu{i}"
            if pooled:
                nodes.append(node("MaxPool", [x], f"{name}_pool{i}", kernel_shape=[2, 2],
                                  strides=[2, 2]))
                x = f"{name}_pool{i}"
            if layers[i + 1][0] == "gemm":
                nodes.append(node("Flatten", [x], f"{name}_flat", axis=1))
                x = f"{name}_flat"
        elif i + 1 < len(layers):
            nodes += [node("Gemm", [x, wn, bn], f"{name}_fc{i}", transB=1),
                      node("Relu", [f"{name}_fc{i}"], f"{name}_fc_relu{i}")]
            x = f"{name}_fc_relu{i}"
        else:
            nodes.append(node("Gemm", [x, wn, bn], f"{name}_points", transB=1))
    nodes += [node("Gemm", [f"{name}_points", f"{name}.place", f"{name}.zero"], f"{name}_placed"),
              node("Gemm", [before, f"{name}.keep", f"{name}.zero"], f"{name}_kept"),
              helper.make_node("Add", [f"{name}_kept", f"{name}_placed"], [points_out],
                               name=f"{name}_add")]
    g.node.extend(nodes)
    g.initializer.extend(numpy_helper.from_array(v, k) for k, v in inits.items())
    keys = [p for p in model.metadata_props if p.key not in meta]
    del model.metadata_props[:]
    model.metadata_props.extend(keys)
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    onnx.save(model, out_path)


def strip(model, name):
    """The model with the `name` refiner (for "mouth" also the retired fit_mouth.py's ridge
    fit, whose nodes were mouth_* and points_add) taken out: its points are what they were
    before it."""
    g = model.graph
    ours = {n.name for n in g.node if n.name.startswith(name + "_")}
    before, last = f"{name}_before", f"{name}_add"
    if name == "mouth" and any(n.name == "mouth_gemm" for n in g.node):   # the ridge fit
        ours |= {"points_add"}
        before, last = "points_head", "points_add"
    if not ours:
        return model
    after = next(n.output[0] for n in g.node if n.name == last)   # what the next step reads
    kept = [n for n in g.node if n.name not in ours]
    for n in kept:
        for names in (n.output, n.input):
            for i, o in enumerate(names):
                if o == before:
                    names[i] = after
    del g.node[:]
    g.node.extend(kept)
    used = {i for n in kept for i in n.input}
    inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)
    props = [p for p in model.metadata_props if p.key != f"facekp.train.{name}"]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    return model


def selection_score(name, pred, truth):
    """What picks the epoch: Spearman rho of the region's expression measure, predicted
    against labelled points (the eyes: both eyes' aspect ratios, which rank open eyes too)."""
    if name == "mouth":
        return ev.spearman(ev.mouth_open(truth), ev.mouth_open(pred))
    return ev.spearman(np.concatenate([ev.eye_aspect(truth, 36), ev.eye_aspect(truth, 42)]),
                       np.concatenate([ev.eye_aspect(pred, 36), ev.eye_aspect(pred, 42)]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("measure", "fit", "strip"))
    ap.add_argument("model", help="an exported 112² landmark model (its refiner for the region, "
                    "if any, is replaced)")
    ap.add_argument("out", nargs="?", help="fit, strip: the ONNX file to write")
    ap.add_argument("--region", choices=sorted(REGIONS), required=True)
    ap.add_argument("--nn-lib", help="measure, fit: nn-core's shared library")
    ap.add_argument("--data", help="measure, fit: the keypoints data folder")
    ap.add_argument("--cache", help="measure, fit: a folder for the runs and samples (GBs)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--gap-weight", type=float, default=0.0,
                    help="weight of a loss on the region's gaps and widths (crop pixels)")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--stages", default=STAGES,
                    help="conv stages, each CHANNELSxCONVS, a 2x2 max pool after each "
                    "(default %(default)s)")
    ap.add_argument("--hidden", type=int, default=HIDDEN, help="the fc layer's width")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import onnx
    name, region = args.region, REGIONS[args.region]
    if args.mode == "strip":
        onnx.save(strip(onnx.load(args.model), name), args.out)
        return
    os.makedirs(args.cache, exist_ok=True)
    tag = os.path.splitext(os.path.basename(args.model))[0]
    # The refiner replaces this region's points of the model without it ...
    base_path = os.path.join(args.cache, f"{tag}-without-{name}.onnx")
    onnx.save(strip(onnx.load(args.model), name), base_path)
    # ... and learns on the crops the head alone places (every refiner out).
    head = onnx.load(args.model)
    for other in REGIONS:
        head = strip(head, other)
    plain = os.path.join(args.cache, tag + "-head.onnx")
    onnx.save(fit_presence.strip_added_outputs(head), plain)
    engine = evaluate.NnCoreEngine(plain, args.nn_lib, args.threads)
    contract = evaluate.Contract(engine.meta)
    if contract.size != 112 or contract.channels != 1:
        raise SystemExit("the windows are where the points fall in a 112² gray crop")
    names, images, truth = data.load_split(args.data, "training")
    passes = cached(os.path.join(args.cache, f"{tag}-training-passes.npz"),
                              lambda: protocol_windows(engine, contract, images))
    refine = list(range(1, contract.refine + 1))
    if args.mode == "measure":
        px = np.concatenate([np.stack([data.points_to_crop(t, *w) for t, w in zip(truth, passes[k][1])])
                             for k in refine])[:, region["points"]] * contract.size
        for q in (0.001, 0.003, 0.01, 0.5, 0.99, 0.997, 0.999):
            print(json.dumps({"quantile": q, "x": round(float(np.quantile(px[..., 0], q)), 1),
                              "y": round(float(np.quantile(px[..., 1], q)), 1)}))
        return

    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    held = data.held_out_identities(names, args.val_fraction, args.seed)
    rng = np.random.default_rng(args.seed)

    def build():
        pick = [i for i in range(len(images)) if not held[i]]
        return samples(region, contract, [images[i] for i in pick], truth[pick],
                       [[passes[k][1][i] for i in pick] for k in refine], JITTERS, rng)
    # The samples hold the seed's training identities only: a run with another seed or
    # held-out share must not validate on identities it trained on.
    samples_file = f"{tag}-{name}-samples-seed{args.seed}-held{args.val_fraction:g}.npz"
    x, y = cached(os.path.join(args.cache, samples_file), build)
    last = contract.refine
    val_windows = [w for w, h in zip(passes[last][1], held) if h]
    val_x, _ = samples(region, contract, [g for g, h in zip(images, held) if h], truth[held],
                       [val_windows], 1, rng)
    val_raw, val_truth = passes[last][0][held], truth[held]
    cols = ee.columns(region["points"])
    print(json.dumps({"train_samples": len(x), "val_images": int(held.sum())}), flush=True)
    head_pred = points_into(region, contract, val_raw, val_windows, val_raw[:, cols])
    print(json.dumps({"epoch": "head", "score": round(selection_score(name, head_pred, val_truth), 4),
                      "val": ee.report("val head", head_pred, val_truth)}), flush=True)

    stages = parse_stages(args.stages)
    net = build_net(torch, region, stages, args.hidden)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * (len(x) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.15)
    gen = torch.Generator().manual_seed(args.seed)
    flip_perm = torch.from_numpy(flip_permutation(region))
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    weight = torch.ones(len(region["points"]), 2)
    for p in region["weighted"]:
        weight[region["points"].index(p)] = 2.0
    weight = weight.reshape(-1) * contract.size      # loss in crop pixels
    # The distances the expression values read (gaps and widths), as pairs of indices.
    gap_a = [region["points"].index(a) for a, _ in region["gaps"]]
    gap_b = [region["points"].index(b) for _, b in region["gaps"]]
    best, best_state = -1.0, None
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        t0, total = time.time(), 0.0
        for i in range(0, len(x) - args.batch + 1, args.batch):
            idx = order[i:i + args.batch]
            bx, by = augment(torch, tx[idx], ty[idx], flip_perm, gen)
            # Shapes only: the refiner's points less their centroid against the true ones
            # less theirs.  The head places the region (its centroid); the refiner gives
            # the gaps, which do not depend on where the window sits.
            k = len(region["points"])
            pc = net(bx).view(-1, k, 2)
            tc = by.view(-1, k, 2)
            pc, tc = pc - pc.mean(dim=1, keepdim=True), tc - tc.mean(dim=1, keepdim=True)
            loss = torch.nn.functional.smooth_l1_loss(pc.reshape(len(idx), -1) * weight,
                                                      tc.reshape(len(idx), -1) * weight)
            if args.gap_weight > 0:
                pg, tg = pc[:, gap_a] - pc[:, gap_b], tc[:, gap_a] - tc[:, gap_b]
                loss = loss + args.gap_weight * torch.nn.functional.smooth_l1_loss(
                    pg * contract.size, tg * contract.size)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss) * len(idx)
        pred = points_into(region, contract, val_raw, val_windows, predict(torch, net, val_x))
        score = selection_score(name, pred, val_truth)
        r = ee.report("val", pred, val_truth)
        print(json.dumps({"epoch": epoch, "loss": round(total / len(x), 4), "s": round(time.time() - t0, 1),
                          "score": round(score, 4), "nme": r["nme"], "px": r["px"], "mouth": r["mouth"],
                          "eyes": r["eyes"]}), flush=True)
        if score > best:
            best, best_state = score, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    pts = region["points"]
    meta = {f"facekp.train.{name}": (
        "points %d-%d from a CNN on rows %d-%d, columns %d-%d of the crop (conv stages %s, "
        "channels x convs, fc %d), trained on the training split's refinement crops, jittered and mirrored; epoch "
        "chosen by Spearman rho %.3f on held-out training identities (training/train_refiner.py)"
        % (pts[0], pts[-1], region["rows"][0], region["rows"][1] - 1, region["cols"][0],
           region["cols"][1] - 1, args.stages, args.hidden, best))}
    write_model(base_path, args.out, name, region, fold(torch, net), contract, meta)
    torch.save(best_state, os.path.join(args.cache, f"{tag}-{name}-net.pt"))
    print(json.dumps({"wrote": args.out, "val_score": best}))


if __name__ == "__main__":
    main()

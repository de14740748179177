#!/usr/bin/python3
"""Whole-network fixtures for nn-core: SAM-GoogLeNet-BN exported from PyTorch.

  /usr/bin/python3 tests/nn/make_fixtures.py --models OUTDIR
      Writes the fixture models (ONNX, ~26 MB each) into OUTDIR.  Run by meson
      at build time; the models are never committed.
  /usr/bin/python3 tests/nn/make_fixtures.py --references
      Recomputes PyTorch's outputs and the models' sha256 and rewrites
      tests/nn/fixtures/networks.ini (small; committed).
  /usr/bin/python3 tests/nn/make_fixtures.py --bench OUTDIR
      Writes static-shape models (argmax and max attention, 112², 128², 224²)
      for bench/nn.

The models are a pure function of this file, training/facekp_model.py and
torch's exporter: parameters and inputs come from an integer hash (below,
mirrored by tests/nn/test-networks.c for the inputs) rather than from torch's
RNG, and the BatchNorm statistics are measured in float64 and rounded to 8
significant bits, so no platform's last-bit differences reach the ONNX bytes.
The test compares each model's sha256 with the recorded one to tell a drifted
generator (another torch) apart from a wrong engine.

Why the weights are not torch's default init: a random GoogLeNet whose
BatchNorm statistics do not match its activations ends up with outputs made of
biases, where an engine error in early layers would not show.  The running
statistics are therefore measured on hashed inputs (train-mode BatchNorm, one
batch) and then perturbed at random (mean shifted by up to ±0.25 σ, variance
floored at a tenth of the layer's mean and scaled by 0.6–1.4, weight 0.6–1.4,
bias ±0.2), so every BatchNorm does real work and the signal stays alive to
the output.  The attention convs get small weights so their sigmoids are not
saturated and the argmax/max map matters.

Channel argmax is discontinuous: inputs whose argmax races are too close to
call in float32 are skipped (ARGMAX_MIN_MARGIN), so that any correct engine
passes and a wrong one fails.
"""
import argparse
import hashlib
import os
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    sys.exit("make_fixtures.py: numpy is missing: run it with Debian's /usr/bin/python3 and "
             "python3-numpy and python3-torch installed (scripts/install-deps.sh test)")

sys.dont_write_bytecode = True  # never leave __pycache__ in the source tree from a build

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
INI_PATH = os.path.join(HERE, "fixtures", "networks.ini")
OPSET = 17
SIZES = (112, 128, 224)

# Fixture models.  `preserve_bn` exports with TrainingMode.PRESERVE so the
# exporter does not fuse Conv+BatchNormalization itself: nn-core must fold the
# BatchNormalization nodes inside the Inception branches at load.
MODELS = {
    "argmax3": dict(attention="argmax", in_channels=3, branch_bn=False, scale_argmax=False,
                    dynamic=True, preserve_bn=False, param_seed=101, sizes=SIZES),
    "max3": dict(attention="max", in_channels=3, branch_bn=False, scale_argmax=False,
                 dynamic=True, preserve_bn=False, param_seed=102, sizes=SIZES),
    # What an exported facekp-recipe model looks like: one gray channel,
    # BatchNorm after every branch conv, argmax scaled by 1/C (folded at export).
    "argmax1-branchbn": dict(attention="argmax", in_channels=1, branch_bn=True, scale_argmax=True,
                             dynamic=True, preserve_bn=True, param_seed=103, sizes=SIZES),
    # Same weights as argmax3, exported with static 112x112 dims.
    "argmax3-static112": dict(attention="argmax", in_channels=3, branch_bn=False, scale_argmax=False,
                              dynamic=False, static_size=112, preserve_bn=False, param_seed=101,
                              sizes=(112,)),
}

# Smallest allowed gap between the largest and the second largest channel of
# every channel-argmax input, relative to that tensor's largest magnitude.  A
# closer race could be decided differently by any correct float32 engine (the
# argmax index jumps, and so does the output), so inputs whose race is that
# close are skipped in favour of the next input seed.
ARGMAX_MIN_MARGIN = 2e-5
TOLERANCE = 1e-4  # of the largest output magnitude


def die(msg):
    sys.exit(f"make_fixtures.py: {msg}")


def import_torch():
    try:
        import torch
    except ImportError:
        die("PyTorch is missing: the whole-network fixtures are generated at build time with "
            "Debian's python3-torch (scripts/install-deps.sh test installs it); run with /usr/bin/python3")
    return torch


# ---- The integer hash (mirrored in tests/nn/test-networks.c) ------------------

def hash32(x):
    """A 32-bit integer mixer (xorshift-multiply rounds) on a uint32 array."""
    x = np.asarray(x, dtype=np.uint32).copy()
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x7FEB352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846CA68B)
    x ^= x >> np.uint32(16)
    return x


def hashed_uniform(seed, n, offset=0):
    """n values k / 2^23, k in [-2^23, 2^23): uniform in [-1, 1), exact in float32.

    Element i is hash32(hash32(seed) + offset + i) >> 8, recentred (uint32 wraps).
    """
    base = hash32(np.uint32(seed))
    with np.errstate(over="ignore"):
        idx = (np.arange(n, dtype=np.uint64) + np.uint64(offset)).astype(np.uint32) + base
    k = (hash32(idx) >> np.uint32(8)).astype(np.int64) - (1 << 23)
    return k.astype(np.float64) / float(1 << 23)


def hashed_input(seed, channels, height, width):
    """The network input of a fixture case: [1, C, H, W] float32."""
    return hashed_uniform(seed, channels * height * width).astype(np.float32).reshape(
        1, channels, height, width)


def round_bits(x, bits=8):
    """x rounded to `bits` significant bits (absorbs last-bit platform noise)."""
    m, e = np.frexp(np.asarray(x, dtype=np.float64))
    return np.ldexp(np.round(np.ldexp(m, bits)), e - bits)


# ---- Building a fixture network ----------------------------------------------

def build_model(spec):
    torch = import_torch()
    sys.path.insert(0, os.path.join(REPO, "training"))
    from facekp_model import SamGoogLeNetBN, SpatialAttention

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    model = SamGoogLeNetBN(attention=spec["attention"], in_channels=spec["in_channels"],
                           branch_bn=spec["branch_bn"],
                           argmax_scale_by_channels=spec["scale_argmax"])
    nn = torch.nn
    stream = [0]  # running offset into the parameter hash stream

    def fill(t, scale, shift=0.0):
        n = t.numel()
        u = hashed_uniform(spec["param_seed"], n, stream[0])
        stream[0] += n
        t.copy_(torch.from_numpy(u * scale + shift).reshape(t.shape).to(t.dtype))

    attention_convs = {id(m.conv): m for m in model.modules() if isinstance(m, SpatialAttention)}
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d) and id(m) in attention_convs:
                sam = attention_convs[id(m)]
                # Channel 0 is the channel mean, channel 1 the argmax index
                # (0..C-1, times argmax_scale) or the channel max.
                if sam.mode == "argmax":
                    second = 0.15 if sam.argmax_scale != 1.0 else 0.15 / sam.channels
                else:
                    second = 0.05
                fill(m.weight[:, 0], 0.15)
                fill(m.weight[:, 1], second)
                fill(m.bias, 0.2)
            elif isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                fill(m.weight, (6.0 / fan_in) ** 0.5)  # He uniform: keeps the variance through ReLUs
                if m.bias is not None:
                    fill(m.bias, 0.1)
    calibrate_batchnorm(model, spec)
    model.eval().prepare_for_export()
    return model


def calibrate_batchnorm(model, spec):
    """Running statistics measured on hashed inputs (float64, one batch), rounded, perturbed."""
    torch = import_torch()
    nn = torch.nn
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    model.double().eval()
    for bn in bns:
        bn.train()
        bn.momentum = 1.0  # running stats := this batch's stats
    x = np.concatenate([hashed_input(spec["param_seed"] * 1000 + i, spec["in_channels"], 112, 112)
                        for i in range(4)])
    with torch.no_grad():
        model(torch.from_numpy(x).double())
    stream = 1 << 30  # parameters use offsets below this
    with torch.no_grad():
        for bn in bns:
            c = bn.num_features
            u = hashed_uniform(spec["param_seed"], 4 * c, stream).reshape(4, c)
            stream += 4 * c
            mean = bn.running_mean.numpy()
            # Channels that barely vary on four images (ReLU-dead, or the
            # 1024 head features seen four times) would get a tiny variance and
            # amplify rounding noise a hundredfold: floor it at a tenth of the
            # layer's mean, as a trained network's would roughly be.
            var = bn.running_var.numpy()
            var = np.maximum(var, 0.1 * var.mean())
            std = np.sqrt(var)
            bn.running_mean.copy_(torch.from_numpy(round_bits(mean) + 0.25 * u[0] * round_bits(std)))
            bn.running_var.copy_(torch.from_numpy(round_bits(var) * (1.0 + 0.4 * u[1])))
            bn.weight.copy_(torch.from_numpy(1.0 + 0.4 * u[2]))
            bn.bias.copy_(torch.from_numpy(0.2 * u[3]))
            bn.momentum = 0.1
    model.float().eval()


def export(model, spec, path):
    torch = import_torch()
    size = spec.get("static_size", 112)
    x = torch.zeros(1, spec["in_channels"], size, size)
    kwargs = {}
    if spec["dynamic"]:
        kwargs["dynamic_axes"] = {"image": {2: "height", 3: "width"}}
    mode = torch.onnx.TrainingMode.PRESERVE if spec["preserve_bn"] else torch.onnx.TrainingMode.EVAL
    import warnings
    with warnings.catch_warnings():
        # PRESERVE on an eval-mode model: the constant-folding advice does not apply.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, path, opset_version=OPSET, input_names=["image"],
                          output_names=["points"], do_constant_folding=True, training=mode,
                          **kwargs)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_models(outdir, names):
    os.makedirs(outdir, exist_ok=True)
    built = {}
    for name in names:
        spec = MODELS[name]
        key = spec["param_seed"], spec["attention"], spec["in_channels"], spec["branch_bn"], spec["scale_argmax"]
        if key not in built:
            built[key] = build_model(spec)
        path = os.path.join(outdir, name + ".onnx")
        tmp = path + ".tmp"
        export(built[key], spec, tmp)
        os.replace(tmp, path)  # a half-written model never looks finished to the build
        print(f"{path}  sha256 {sha256_of(path)}")
    return built


# ---- References ---------------------------------------------------------------

def attention_inputs(model, x):
    """Runs model(x) and returns (output, [input of each SpatialAttention])."""
    torch = import_torch()
    from facekp_model import SpatialAttention
    seen = []
    hooks = [m.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
             for m in model.modules() if isinstance(m, SpatialAttention)]
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for h in hooks:
            h.remove()
    return out, seen


def argmax_margin(tensors):
    """Smallest relative gap between top-1 and top-2 channel values, and whether any
    non-zero value is tied exactly (all-zero pixels after ReLU tie harmlessly: both
    torch and ONNX pick the first index)."""
    worst, bad_tie = float("inf"), False
    for t in tensors:
        top = t.topk(2, dim=1).values
        gap = (top[:, 0] - top[:, 1])
        scale = float(t.abs().max())
        tied = gap == 0
        if bool((tied & (top[:, 0] != 0)).any()):
            bad_tie = True
        if bool((~tied).any()):
            worst = min(worst, float(gap[~tied].min()) / scale)
    return worst, bad_tie


def case_reference(model, spec, size, seed0):
    """(input seed, float32 output, stats) for the first seed from seed0 whose argmax races are clear."""
    torch = import_torch()
    model64 = None
    for seed in range(seed0, seed0 + 50):
        x = torch.from_numpy(hashed_input(seed, spec["in_channels"], size, size))
        out, att = attention_inputs(model, x)
        margin, bad_tie = float("inf"), False
        if spec["attention"] == "argmax":
            margin, bad_tie = argmax_margin(att)
            if bad_tie or margin < ARGMAX_MIN_MARGIN:
                print(f"  seed {seed}: argmax race too close (margin {margin:.2e}, tie {bad_tie}); next seed")
                continue
        # float64 run: how far float32 rounding alone moves the output.
        import copy
        model64 = model64 or copy.deepcopy(model).double()
        with torch.no_grad():
            out64 = model64(x.double())
        ref = out.numpy().reshape(-1).astype(np.float32)
        rounding = float(np.abs(out64.numpy().reshape(-1) - ref).max()) / float(np.abs(ref).max())
        return seed, ref, dict(margin=margin, rounding=rounding)
    die(f"no input seed with a clear argmax race from {seed0}")


def write_references(ini_path):
    import configparser
    torch = import_torch()
    lines = [
        "# Whole-network fixtures for tests/nn/test-networks.c.  Generated by",
        "#   /usr/bin/python3 tests/nn/make_fixtures.py --references",
        "# Do not edit.  Models are rebuilt at build time by make_fixtures.py --models;",
        "# `sha256` is what the references were computed from.  Inputs are",
        "# hashed_input(input_seed) (see make_fixtures.py).  `output` is PyTorch's",
        "# float32 output (%.9g: exact float32).  `float64_deviation`: max |torch float32",
        "# - torch float64| / max |output| (what float32 rounding alone does).",
        "# `argmax_margin`: smallest top-1/top-2 channel gap / max magnitude at the",
        "# attention inputs (argmax models).",
        "",
        "[fixtures]",
        f"torch={torch.__version__}",
        f"opset={OPSET}",
        f"tolerance={TOLERANCE!r}",
        f"models={';'.join(MODELS)};",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        built = write_models(tmp, list(MODELS))
        for name, spec in MODELS.items():
            key = spec["param_seed"], spec["attention"], spec["in_channels"], spec["branch_bn"], spec["scale_argmax"]
            model = built[key]
            path = os.path.join(tmp, name + ".onnx")
            lines += [f"[model {name}]", f"file={name}.onnx", f"sha256={sha256_of(path)}",
                      f"attention={spec['attention']}", f"channels={spec['in_channels']}",
                      f"branch_bn={'true' if spec['branch_bn'] else 'false'}",
                      f"dynamic={'true' if spec['dynamic'] else 'false'}", ""]
            for size in spec["sizes"]:
                seed, ref, st = case_reference(model, spec, size, seed0=spec["param_seed"] * 100 + size)
                print(f"{name} {size}: seed {seed}, max|out| {np.abs(ref).max():.4g}, "
                      f"float64 deviation {st['rounding']:.2e}, argmax margin {st['margin']:.2e}")
                x = hashed_input(seed, spec["in_channels"], size, size).reshape(-1)
                lines += [f"[case {name} {size}]", f"model={name}", f"height={size}", f"width={size}",
                          f"input_seed={seed}",
                          # lets the C test check that its copy of the hash agrees
                          "input_head=" + ";".join("%.9g" % v for v in x[:4]) + ";",
                          f"input_sum={float(x.astype(np.float64).sum())!r}",
                          f"float64_deviation={st['rounding']:.3e}"]
                if spec["attention"] == "argmax":
                    lines.append(f"argmax_margin={st['margin']:.3e}")
                lines.append(f"output_shape=1;{ref.size};")
                lines.append("output=" + ";".join("%.9g" % v for v in ref) + ";")
                lines.append("")
    os.makedirs(os.path.dirname(ini_path), exist_ok=True)
    with open(ini_path, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {ini_path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--models", metavar="OUTDIR", help="write the fixture models")
    group.add_argument("--references", action="store_true",
                       help=f"recompute the stored references ({os.path.relpath(INI_PATH, REPO)})")
    group.add_argument("--bench", metavar="OUTDIR",
                       help="write static-shape models for bench/nn: {argmax,max}-{112,128,224}.onnx")
    ap.add_argument("--only", metavar="NAME", action="append",
                    help="with --models: only this model (repeatable)")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)),
                    help="with --bench: comma-separated input sides")
    args = ap.parse_args()

    if args.models:
        names = args.only or list(MODELS)
        unknown = [n for n in names if n not in MODELS]
        if unknown:
            die(f"unknown model {unknown[0]!r}; known: {', '.join(MODELS)}")
        write_models(args.models, names)
    elif args.references:
        write_references(INI_PATH)
    else:
        os.makedirs(args.bench, exist_ok=True)
        for attention, base in (("argmax", "argmax3"), ("max", "max3")):
            model = build_model(MODELS[base])
            for size in (int(s) for s in args.sizes.split(",")):
                spec = dict(MODELS[base], dynamic=False, static_size=size)
                path = os.path.join(args.bench, f"{attention}-{size}.onnx")
                export(model, spec, path)
                print(path)


if __name__ == "__main__":
    main()

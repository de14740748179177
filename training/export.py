#!/usr/bin/python3
"""Exports a training checkpoint to ONNX with the model contract in metadata_props.

  /usr/bin/python3 export.py runs/facekp112/last.pt ../models/facekp-landmarks68.onnx \
      --data ../../shared/data/keypoints

With --data the test-split NME (full-frame protocol, PyTorch) is measured and
recorded in the metadata.  The graph is the seed's: the facekp recipe's
training-only details (normalised argmax, BatchNorm in the branches, three
identical input channels) are folded into the weights or left for nn-core to
fold at load.
"""
import argparse
import itertools
import json
import os

import torch

import train
from facekp_model import single_channel_copy

OPSET = 17


def earlier_stages(args):
    """(epochs, input size) of the stages a warm-restarted run started from, oldest first."""
    init = args.get("init_from")
    if not init or not os.path.exists(init):
        return []
    ck = torch.load(init, map_location="cpu")
    return earlier_stages(ck["args"]) + [(len(ck["history"]), ck["args"]["size"])]


def describe_stages(stages):
    """'12 + 18' or, when the input size changed between stages, '12 + 18 at 112², 14 at 128²'."""
    runs = [(size, " + ".join(str(n) for n, _ in group))
            for size, group in itertools.groupby(stages, key=lambda stage: stage[1])]
    if len(runs) == 1:
        return runs[0][1]
    return ", ".join(f"{epochs} at {size}²" for size, epochs in runs)


def contract_metadata(args, history, refine=1, averaged=0, head_refit=None):
    seed = args["recipe"] == "seed"
    meta = {
        "facekp.task": "landmarks68",
        "facekp.contract": "1",
        "facekp.points": "68",
        "facekp.input.size": str(args["size"]),
        "facekp.input.channels": "1",
        "facekp.input.color": "gray",
        "facekp.input.mean": repr(train.INPUT_MEAN),
        "facekp.input.scale": repr(train.INPUT_SCALE),
        "facekp.output.mean": repr(train.SEED_MEAN) if seed else "0",
        "facekp.output.std": repr(train.SEED_STD) if seed else "1",
        "facekp.output.reference": repr(train.SEED_REF) if seed else "1",
        "facekp.crop.points_scale": repr(train.POINTS_CROP_SCALE),
        "facekp.crop.points_angle": "none" if seed else "eye-line",
        "facekp.crop.box_scale": repr(train.POINTS_CROP_SCALE if seed else train.BOX_CROP_SCALE),
        "facekp.crop.refine": str(refine),
        "facekp.recipe": args["recipe"],
        "facekp.attention": args["attention"],
        "facekp.train.data": "keypoints training split (YouTube Faces crops, 3,371 images, 277 identities)",
        "facekp.train.epochs": str(len(history)),
    }
    # Warm restarts (train.py --init-from) count the epochs of every stage
    # before; an averaged checkpoint (average.py) is described by its last member.
    stages = earlier_stages(args) + [(len(history), args["size"])]
    if len(stages) > 1:
        meta["facekp.train.epochs"] = (f"{sum(n for n, _ in stages)} (stages of "
                                       f"{describe_stages(stages)}, warm restarts)")
    if averaged:
        meta["facekp.train.epochs"] += f"; weights: mean of {averaged} checkpoints"
    if head_refit:   # refit_head.py
        meta["facekp.train.head"] = (
            f"refit as a linear map by ridge regression (strength {head_refit['strength']:g}) on the "
            f"crops of the whole-image protocol with {head_refit['refine']} refinements over the "
            "training split"
            + (f", from upright and from up to {head_refit['roll']:g} degree turned whole images"
               if head_refit.get("roll") else ""))
    return meta


def load_for_export(checkpoint_path, refine=1):
    """(1-channel eval-mode model with export folds applied, contract metadata)."""
    ck = torch.load(checkpoint_path, map_location="cpu")
    args = ck["args"]
    model = train.build_model(argparse.Namespace(**args))
    model.load_state_dict(ck["model"])
    model.eval().prepare_for_export()
    if args["channels"] == 3:
        model = single_channel_copy(model)
    return model.eval(), contract_metadata(args, ck["history"], refine, len(ck.get("averaged", [])),
                                           ck.get("head_refit"))


def export(model, meta, path, size):
    import onnx
    x = torch.zeros(1, 1, size, size)
    torch.onnx.export(model, x, path, opset_version=OPSET, input_names=["image"],
                      output_names=["points"], do_constant_folding=True)
    proto = onnx.load(path)
    onnx.helper.set_model_props(proto, meta)
    proto.doc_string = "facekp 68-point landmark model (SAM-GoogLeNet-BN); contract: docs/model-contract.md"
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("output")
    ap.add_argument("--data", help="keypoints folder: measure the test NME and record it")
    ap.add_argument("--refine", type=int, default=1,
                    help="facekp.crop.refine: re-crops from the points after a box or whole-frame crop")
    args = ap.parse_args()

    model, meta = load_for_export(args.checkpoint, args.refine)
    if args.data:
        import evaluate
        import facekp_data as data
        engine = evaluate.TorchEngine(args.checkpoint)
        contract = evaluate.Contract(meta)
        _, images, truth = data.load_split(args.data, "test")
        errors = data.nme(evaluate.run_protocol(engine, contract, images, truth, "full-frame"), truth)
        result = evaluate.summary(errors)
        meta["facekp.eval.nme"] = f"{result['nme_mean']:.4f}"
        meta["facekp.eval.protocol"] = (f"keypoints test split, full-frame crop + {args.refine} "
                                        f"refinement{'s' if args.refine != 1 else ''}, PyTorch")
        print(json.dumps(result))
    export(model, meta, args.output, int(meta["facekp.input.size"]))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

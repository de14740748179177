#!/usr/bin/python3
"""Trains the 68-point landmark model, with checkpoints and resume.

  /usr/bin/python3 train.py --data ../../shared/data/keypoints --out runs/facekp112

On CPU by default; --device cuda --workers N trains on a GPU with N processes
building the augmented crops.

Two recipes:
  seed    the published recipe: Resize(256/224 x N) + RandomCrop(N), labels
          (px * 224/N - 104.47) / 43.17, SmoothL1, Momentum 0.9, lr 0.01 cosine,
          L2 2e-3, batch 64.
  facekp  crops built from the landmark box as the runtime builds them (see
          facekp_data.py), geometric and photometric augmentation, BatchNorm
          inside the Inception branches, normalised argmax attention, L1 loss,
          AdamW with warm-up and cosine decay.
Re-running the same command resumes from the last checkpoint in --out.
"""
import argparse
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageFilter

import facekp_data as data
from facekp_model import SamGoogLeNetBN

SEED_MEAN, SEED_STD, SEED_REF = 104.47, 43.17, 224.0
POINTS_CROP_SCALE = 1.5   # contract: crop side = 1.5 x larger side of the landmark box
# Crops from a detector's landmark-box estimate: 1.1 x the points' scale.  The
# first-pass crops below span 0.85-2.2 x the points' crop; at 1.0 x, a box
# that came out 0.73 x too small (a profile face) fell below that range and
# its refinements never recovered (docs/model-contract.md, models/MODELS.md).
BOX_CROP_SCALE = 1.65
INPUT_MEAN, INPUT_SCALE = 127.5, 1 / 127.5


def eye_angle(points):
    left = points[36:42].mean(axis=0)
    right = points[42:48].mean(axis=0)
    return math.atan2(right[1] - left[1], right[0] - left[0])


def normalise_input(crop):
    return (crop - INPUT_MEAN) * INPUT_SCALE


class Recipe:
    """Sampling of training crops and encoding of targets for one recipe."""

    def __init__(self, name, size):
        self.name, self.size = name, size

    # Targets ---------------------------------------------------------------
    def encode(self, q):
        """Crop-normalised points [68, 2] -> network targets [136]."""
        if self.name == "seed":
            return ((q * SEED_REF - SEED_MEAN) / SEED_STD).reshape(-1)
        return q.reshape(-1)

    def decode(self, out):
        """Network outputs [n, 136] -> crop-normalised points [n, 68, 2]."""
        out = out.reshape(out.shape[0], data.NUM_POINTS, 2)
        if self.name == "seed":
            return (out * SEED_STD + SEED_MEAN) / SEED_REF
        return out

    # Crops -----------------------------------------------------------------
    def seed_window(self, gray, rng):
        """Resize(shorter side -> 256/224 N) then a crop of N: a square window in the source."""
        h, w = gray.shape
        side = min(h, w) * 224.0 / 256.0
        if rng is None:   # CenterCrop at evaluation
            cx, cy = w / 2, h / 2
        else:
            cx = side / 2 + rng.uniform(0, w - side)
            cy = side / 2 + rng.uniform(0, h - side)
        return np.array([cx, cy], np.float32), side, 0.0

    def train_sample(self, gray, points, rng):
        if self.name == "seed":
            centre, side, angle = self.seed_window(gray, rng)
            crop = data.warp_crop(gray, centre, side, angle, self.size)
            return crop, data.points_to_crop(points, centre, side, angle)

        h, w = gray.shape
        if rng.random() < 0.5:   # horizontal flip with the mirror permutation
            gray = gray[:, ::-1]
            points = points.copy()
            points[:, 0] = w - points[:, 0]
            points = points[data.FLIP_PERMUTATION]
        centre, side = data.crop_from_points(points, POINTS_CROP_SCALE)
        if rng.random() < 0.7:
            # Tracking pass: crop from the previous frame's points, rotated by the eye line.
            angle = eye_angle(points) + math.radians(rng.uniform(-15, 15))
            side *= math.exp(rng.uniform(-0.15, 0.15))
            shift = 0.07
        else:
            # First pass: an upright box from a detector or the whole frame, much looser.
            angle = math.radians(rng.uniform(-30, 30))
            side *= math.exp(rng.uniform(math.log(0.85), math.log(2.2)))
            shift = 0.12
        centre = centre + side * np.array([rng.uniform(-shift, shift), rng.uniform(-shift, shift)],
                                          np.float32)
        crop = data.warp_crop(gray, centre, side, angle, self.size)
        # Photometric: contrast, brightness, blur, noise.
        crop = (crop - 128) * rng.uniform(0.6, 1.4) + 128 + rng.uniform(-40, 40)
        crop = np.clip(crop, 0, 255)
        if rng.random() < 0.25:
            img = Image.fromarray(crop.astype(np.uint8))
            crop = np.asarray(img.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.6))),
                              np.float32)
        if rng.random() < 0.25:
            crop = np.clip(crop + rng.normal(0, rng.uniform(1, 6), crop.shape), 0, 255)
        return crop.astype(np.float32), data.points_to_crop(points, centre, side, angle)

    def eval_window(self, gray, points):
        """Evaluation crop during training: the contract's crop from the true points."""
        if self.name == "seed":
            return self.seed_window(gray, None)
        centre, side = data.crop_from_points(points, POINTS_CROP_SCALE)
        return centre, side, eye_angle(points)


class TrainingCrops(torch.utils.data.Dataset):
    """Augmented crops and encoded targets, indexed by (epoch, image).

    Each sample draws from its own generator seeded by (seed, epoch, index), so
    a run draws the same augmentations whatever the number of loader workers,
    and a resumed run the same as an uninterrupted one.
    """

    def __init__(self, recipe, images, points, seed):
        self.recipe, self.images, self.points, self.seed = recipe, images, points, seed

    def __len__(self):
        return len(self.images)

    def __getitem__(self, key):
        epoch, i = key   # from EpochOrder
        rng = np.random.default_rng((self.seed, epoch, i))
        crop, q = self.recipe.train_sample(self.images[i], self.points[i], rng)
        return torch.from_numpy(normalise_input(crop)), torch.from_numpy(
            self.recipe.encode(q).astype(np.float32))


class EpochOrder(torch.utils.data.Sampler):
    """The training images in an order drawn from (seed, epoch); set .epoch before each epoch."""

    def __init__(self, count, seed):
        self.count, self.seed, self.epoch = count, seed, 0

    def __len__(self):
        return self.count

    def __iter__(self):
        order = np.random.default_rng(self.seed * 1000 + self.epoch).permutation(self.count)
        return iter([(self.epoch, int(i)) for i in order])


class WeightAverage:
    """Exponential moving average of the weights and BatchNorm statistics.

    The model's state tensors are looked up once: they are the parameters and
    buffers themselves, which training and load_state_dict update in place.
    """

    def __init__(self, model, decay):
        self.decay = decay
        live = model.state_dict()
        self.state = {k: v.detach().clone() for k, v in live.items()}
        self.averaged = [(self.state[k], v) for k, v in live.items() if v.dtype.is_floating_point]
        self.copied = [(self.state[k], v) for k, v in live.items() if not v.dtype.is_floating_point]

    def load(self, state):
        """Restores a saved average (from a checkpoint) in place."""
        with torch.no_grad():
            for k, v in state.items():
                self.state[k].copy_(v)

    @torch.no_grad()
    def update(self):
        for average, live in self.averaged:
            average.mul_(self.decay).add_(live, alpha=1 - self.decay)
        for average, live in self.copied:   # counters such as num_batches_tracked
            average.copy_(live)


def build_model(args):
    return SamGoogLeNetBN(attention=args.attention, in_channels=args.channels,
                          branch_bn=(args.recipe == "facekp"),
                          argmax_scale_by_channels=(args.recipe == "facekp"))


def init_head_to_mean_shape(model, recipe, images, points, seed, samples=512):
    """Starts the last layer at the mean target with small weights.

    From a zero-centred output the network first spends epochs learning the
    mean shape through its bias; starting there cut the loss on a 32-image
    overfitting check from 0.057 to 0.014 after the same 30-40 steps.
    """
    rng = np.random.default_rng(seed + 7919)
    targets = [recipe.encode(recipe.train_sample(images[i], points[i], rng)[1])
               for i in rng.choice(len(images), min(samples, len(images)), replace=False)]
    last = model.head[-1]
    with torch.no_grad():
        last.weight.mul_(0.1)
        last.bias.copy_(torch.from_numpy(np.mean(targets, axis=0).astype(np.float32)))


@torch.no_grad()
def recalibrate_batchnorm(model, recipe, images, points, channels, seed, batches=50, batch=32):
    """Replaces BatchNorm running statistics with exact averages under the final weights.

    The running averages trail weights that moved during training; recomputing
    them with the finished network cut test NME from 0.113 to 0.086 on an
    epoch-5 checkpoint; at the end of the schedule, with a tiny learning rate,
    the running averages are already right and recalibrating on augmented crops
    made full-frame NME worse (0.087 -> 0.094), so it is only for runs stopped
    early.
    """
    rng = np.random.default_rng(seed + 104729)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None   # cumulative average
    model.train()
    for _ in range(batches):
        idx = rng.choice(len(images), batch, replace=False)
        model(to_tensor([recipe.train_sample(images[i], points[i], rng)[0] for i in idx], channels))
    for m in norms:
        m.momentum = 0.1
    model.eval()


def finalize(model, recipe, args, train_images, train_points, history, wall):
    """Writes OUT/final.pt: the last weights with recalibrated BatchNorm statistics."""
    recalibrate_batchnorm(model, recipe, train_images, train_points, args.channels, args.seed)
    torch.save({"model": model.state_dict(), "epoch": len(history), "args": vars(args),
                "history": history, "wall": wall}, os.path.join(args.out, "final.pt"))
    print(f"wrote {os.path.join(args.out, 'final.pt')} after {len(history)} epochs", flush=True)


def to_tensor(crops, channels):
    return expand_channels(torch.from_numpy(normalise_input(np.stack(crops))), channels)


def expand_channels(x, channels):
    """[n, H, W] gray -> [n, channels, H, W]."""
    x = x.unsqueeze(1)
    return x.expand(-1, channels, -1, -1).contiguous() if channels > 1 else x


class EvaluationSet:
    """A split's evaluation crops (the contract's crop from the true points), built once."""

    def __init__(self, recipe, images, points):
        self.recipe, self.points = recipe, points
        self.windows = [recipe.eval_window(g, p) for g, p in zip(images, points)]
        self.crops = torch.from_numpy(normalise_input(np.stack(
            [data.warp_crop(g, c, s, a, recipe.size) for g, (c, s, a) in zip(images, self.windows)])))

    @torch.no_grad()
    def evaluate(self, model, channels, device, batch=64):
        """(mean NME, median, failure rate) of the model in eval mode."""
        model.eval()
        outputs = [model(expand_channels(self.crops[i:i + batch], channels).to(device)).cpu()
                   for i in range(0, len(self.crops), batch)]
        q = self.recipe.decode(torch.cat(outputs).numpy())
        preds = np.stack([data.points_from_crop(qi, c, s, a) for qi, (c, s, a) in zip(q, self.windows)])
        e = data.nme(preds, self.points)
        return float(e.mean()), float(np.median(e)), float((e > 0.08).mean())


def make_optimizer(model, args, steps_per_epoch):
    total = args.epochs * steps_per_epoch
    if args.recipe == "seed":
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=2e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
        return opt, sched
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    warmup = steps_per_epoch

    def factor(step):
        total = args.epochs * steps_per_epoch   # read late: --time-budget sets it after epoch 1
        if step < warmup:
            return (step + 1) / warmup
        if args.schedule == "constant":
            return 1.0
        t = (step - warmup) / max(1, total - warmup)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t))
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="folder holding {training,test}_frames_keypoints.csv")
    ap.add_argument("--out", required=True, help="run folder: checkpoints, log, history")
    ap.add_argument("--recipe", choices=["seed", "facekp"], default="facekp")
    ap.add_argument("--attention", choices=["argmax", "max"], default="argmax")
    ap.add_argument("--size", type=int, default=112, help="input side in pixels")
    ap.add_argument("--channels", type=int, choices=[1, 3], default=1,
                    help="1: gray; 3: gray replicated (same function class)")
    ap.add_argument("--epochs", type=int, default=None, help="default: 50 (seed), 40 (facekp)")
    ap.add_argument("--batch", type=int, default=None, help="default: 64 (seed), 32 (facekp)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, ...")
    ap.add_argument("--workers", type=int, default=0,
                    help="processes building training crops (0: the training process itself)")
    ap.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                    help="also keep an exponential moving average of the weights, updated every "
                         "step (e.g. 0.999), written as OUT/ema.pt and measured at the end")
    ap.add_argument("--time-budget", type=float, default=0.0, metavar="SECONDS",
                    help="facekp recipe: after epoch 1, shorten the run to the epochs that fit in "
                         "this many seconds (--epochs is the cap); the choice is saved in args.json "
                         "so a rerun with that --epochs repeats the schedule")
    ap.add_argument("--eval-every", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="use only this many training images (smoke tests)")
    ap.add_argument("--init-from", default=None, metavar="CKPT",
                    help="start from the weights of another run's checkpoint (a warm restart: "
                         "fresh optimiser and schedule, same architecture)")
    ap.add_argument("--stop-after", type=int, default=0, metavar="EPOCH",
                    help="stop after this epoch (the checkpoint stays resumable: to replay a run "
                         "whose schedule was changed mid-way)")
    ap.add_argument("--schedule", choices=("cosine", "constant"), default="cosine",
                    help="facekp recipe: learning rate after the warm-up epoch (constant: for "
                         "weight averaging over --snapshots, see average.py)")
    ap.add_argument("--val-fraction", type=float, default=0.0, metavar="F",
                    help="hold out this share of the training identities as a validation set, "
                         "measured with the test split (to choose between checkpoints or "
                         "averages without looking at the test split)")
    ap.add_argument("--snapshots", action="store_true",
                    help="also keep each epoch's weights as OUT/epoch-NN.pt (for average.py)")
    ap.add_argument("--finalize", action="store_true",
                    help="only write OUT/final.pt from OUT/last.pt with recalibrated BatchNorm "
                         "statistics: for a run stopped early, while the learning rate is high")
    args = ap.parse_args()
    args.epochs = args.epochs or (50 if args.recipe == "seed" else 40)
    args.batch = args.batch or (64 if args.recipe == "seed" else 32)

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "args.json"), "w") as f:
        json.dump(vars(args), f, indent=1)

    train_names, train_images, train_points = data.load_split(args.data, "training")
    _, test_images, test_points = data.load_split(args.data, "test")
    val_images, val_points = [], None
    if args.val_fraction > 0:
        (_, val_images, val_points), (_, train_images, train_points) = data.split_held_out(
            train_names, train_images, train_points, args.val_fraction, args.seed)
        print(f"validation: {len(val_images)} images of held-out identities, "
              f"{len(train_images)} left for training", flush=True)
    if args.limit:
        train_images, train_points = train_images[:args.limit], train_points[:args.limit]

    recipe = Recipe(args.recipe, args.size)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(args.seed)
    model = build_model(args)
    if args.init_from:
        model.load_state_dict(torch.load(args.init_from, map_location="cpu")["model"])
    else:
        init_head_to_mean_shape(model, recipe, train_images, train_points, args.seed)
    model.to(device)
    steps_per_epoch = len(train_images) // args.batch
    opt, sched = make_optimizer(model, args, steps_per_epoch)
    loss_fn = nn.SmoothL1Loss() if args.recipe == "seed" else nn.L1Loss()
    average = WeightAverage(model, args.ema) if args.ema else None

    ckpt_path = os.path.join(args.out, "last.pt")
    start_epoch, history, wall = 0, [], 0.0
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location=device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        if average:
            average.load(ck["ema"])
        start_epoch, history, wall = ck["epoch"], ck["history"], ck.get("wall", 0.0)
        if args.time_budget:
            args.epochs = ck["args"]["epochs"]   # keep the length chosen after epoch 1
        print(f"resumed after epoch {start_epoch}", flush=True)

    evaluation = EvaluationSet(recipe, test_images, test_points)
    validation = EvaluationSet(recipe, val_images, val_points) if val_images else None
    crops = TrainingCrops(recipe, train_images, train_points, args.seed)
    sampler = EpochOrder(len(train_images), args.seed)
    loader = torch.utils.data.DataLoader(
        crops, batch_size=args.batch, sampler=sampler, drop_last=True, num_workers=args.workers,
        persistent_workers=args.workers > 0, pin_memory=device.type == "cuda")

    end_epoch = 0 if args.finalize else args.epochs
    if args.stop_after:
        end_epoch = min(end_epoch, args.stop_after)
    epoch = start_epoch
    while epoch < end_epoch:
        sampler.epoch = epoch
        torch.manual_seed(args.seed * 1000 + epoch)
        model.train()
        t0, losses, timed_from = time.time(), [], None
        first_timed = min(10, steps_per_epoch // 2)   # the first steps pay for start-up
        for step, (x, y) in enumerate(loader):
            if step == first_timed:
                timed_from = time.time()
            x = expand_channels(x, args.channels).to(device, non_blocking=True)
            loss = loss_fn(model(x), y.to(device, non_blocking=True))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            if average:
                average.update()
            losses.append(loss.detach())
        losses = torch.stack(losses).cpu().numpy()
        if not np.isfinite(losses).all():
            raise SystemExit(f"loss is not finite in epoch {epoch + 1}")
        seconds = time.time() - t0
        wall += seconds
        if args.time_budget and epoch == 0:
            # Fit the schedule to the budget from the steady-state step time.
            per_step = (time.time() - timed_from) / (steps_per_epoch - first_timed)
            per_epoch = per_step * steps_per_epoch * 1.1   # + evaluations and checkpoints
            args.epochs = max(2, min(args.epochs, 1 + int((args.time_budget - seconds) / per_epoch)))
            end_epoch = args.epochs
            with open(os.path.join(args.out, "args.json"), "w") as f:
                json.dump(vars(args), f, indent=1)
            print(f"time budget {args.time_budget:.0f} s: {per_epoch:.2f} s per epoch, "
                  f"{args.epochs} epochs", flush=True)
        entry = {"epoch": epoch + 1, "loss": float(losses.mean()), "seconds": seconds,
                 "lr": opt.param_groups[0]["lr"], "nme": None}
        if (epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs:
            entry["nme"], entry["median"], entry["failure"] = evaluation.evaluate(
                model, args.channels, device)
            if validation:
                entry["val_nme"], entry["val_median"], entry["val_failure"] = validation.evaluate(
                    model, args.channels, device)
        history.append(entry)
        print(json.dumps(entry), flush=True)
        state = {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                 "epoch": epoch + 1, "history": history, "wall": wall, "args": vars(args)}
        if average:
            state["ema"] = average.state
        torch.save(state, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)
        if args.snapshots:
            torch.save({"model": model.state_dict(), "epoch": epoch + 1, "history": history,
                        "args": vars(args)}, os.path.join(args.out, f"epoch-{epoch + 1:02d}.pt"))
        epoch += 1
    summary = {"history": history, "wall_seconds": wall}
    if average and history:
        model.load_state_dict(average.state)
        summary["ema_nme"], summary["ema_median"], summary["ema_failure"] = evaluation.evaluate(
            model, args.channels, device)
        print(json.dumps({"ema_nme": summary["ema_nme"], "ema_median": summary["ema_median"],
                          "ema_failure": summary["ema_failure"]}), flush=True)
        torch.save({"model": average.state, "epoch": len(history), "history": history,
                    "args": vars(args)}, os.path.join(args.out, "ema.pt"))
    with open(os.path.join(args.out, "history.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Reproduces the shipped landmark model, models/facekp-landmarks68.onnx, with
# the same seeds and the same sequence of schedules (see models/MODELS.md):
#
#   training/reproduce.sh DATA RUNS OUT.onnx
#
#   stage 1   facekp recipe, 112², 12 epochs, AdamW 1e-3, warm-up + cosine;
#   stage 2   warm restart from stage 1: 18 epochs at 5e-4 (its first 5
#             epochs ran on a 22-epoch schedule before it was shortened);
#   stage 3   warm restart from stage 2: 22 epochs at 3e-4;
#   average   the mean of the stage 2 and stage 3 weights (average.py);
#   refit     the head refitted to the runtime's crops (refit_head.py: ridge,
#             strength chosen on held-out training identities, 15 min);
#   export    ONNX with the contract's metadata, test NME measured by PyTorch.
#
# About 52 epochs of 3-5 min on 2 cores.  Each stage resumes from its
# checkpoint when run again.  CPU training is not bit-exact across machines
# (thread reductions), so expect the same NME within noise, not the same bytes.
# The shipped file's run drew each epoch's augmentations from one generator;
# train.py now draws each sample's from its own (seed, epoch, image) seed, so a
# rerun sees other draws of the same augmentations.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=${1:?usage: reproduce.sh DATA RUNS OUT.onnx}
runs=${2:?usage: reproduce.sh DATA RUNS OUT.onnx}
out=${3:?usage: reproduce.sh DATA RUNS OUT.onnx}
export OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=0
train=(/usr/bin/python3 "$here/train.py" --data "$data" --recipe facekp --size 112 --seed 1)

"${train[@]}" --out "$runs/stage1" --epochs 12 --lr 1e-3
"${train[@]}" --out "$runs/stage2" --init-from "$runs/stage1/last.pt" --lr 5e-4 --epochs 22 --stop-after 5
"${train[@]}" --out "$runs/stage2" --init-from "$runs/stage1/last.pt" --lr 5e-4 --epochs 18
"${train[@]}" --out "$runs/stage3" --init-from "$runs/stage2/last.pt" --lr 3e-4 --epochs 22
/usr/bin/python3 "$here/average.py" "$runs/stage2-stage3-mean.pt" "$runs/stage2/last.pt" "$runs/stage3/last.pt"
/usr/bin/python3 "$here/refit_head.py" "$runs/stage2-stage3-mean.pt" "$runs/stage2-stage3-refit.pt" --data "$data"
/usr/bin/python3 "$here/export.py" "$runs/stage2-stage3-refit.pt" "$out" --data "$data" --refine 2

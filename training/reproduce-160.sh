#!/usr/bin/env bash
# Reproduces the shipped 160² landmark model, models/facekp-landmarks68-160.onnx,
# with the same seeds and schedules (see models/MODELS.md):
#
#   training/reproduce-160.sh DATA RUNS OUT.onnx
#
#   pack      the gray JPEG copy of DATA the model was trained on (pack_data.py);
#   stage 1   facekp recipe, 160², 80 epochs, AdamW 1e-3, warm-up + cosine,
#             weight EMA 0.999: its EMA weights are kept;
#   stage 2   warm restart from stage 1's EMA: 33 epochs at 3e-4, seed 2;
#   average   the mean of stage 1's EMA and stage 2's last weights (average.py);
#   refit     the head refitted to the runtime's crops on the CPU
#             (refit_head.py on DATA itself, as the runtime reads it; about 35 min
#             on 2 cores);
#   export    ONNX with the contract's metadata, test NME measured by PyTorch.
#
# Made for a CUDA GPU (DEVICE=cuda, the default): the shipped run took 7 + 3.5
# minutes on one H200 with 7 and 14 loader processes (WORKERS).  DEVICE=cpu
# works too (not timed here: 113 epochs at 160² should take 8-12 hours on 2
# cores).  Each stage resumes from its checkpoint when run again.  GPU training is not
# bit-exact (cuDNN kernel choice), so expect the same NME within noise, not
# the same bytes.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=${1:?usage: reproduce-160.sh DATA RUNS OUT.onnx}
runs=${2:?usage: reproduce-160.sh DATA RUNS OUT.onnx}
out=${3:?usage: reproduce-160.sh DATA RUNS OUT.onnx}
python=${PYTHON:-/usr/bin/python3}
export OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=0
"$python" "$here/pack_data.py" "$data" "$runs/data"
train=("$python" "$here/train.py" --data "$runs/data" --recipe facekp --size 160
       --device "${DEVICE:-cuda}" --workers "${WORKERS:-7}" --ema 0.999 --eval-every 10)

"${train[@]}" --out "$runs/stage1" --seed 1 --epochs 80 --lr 1e-3
"${train[@]}" --out "$runs/stage2" --seed 2 --epochs 33 --lr 3e-4 --init-from "$runs/stage1/ema.pt"
"$python" "$here/average.py" "$runs/stage1-stage2-mean.pt" "$runs/stage1/ema.pt" "$runs/stage2/last.pt"
"$python" "$here/refit_head.py" "$runs/stage1-stage2-mean.pt" "$runs/stage1-stage2-refit.pt" --data "$data"
"$python" "$here/export.py" "$runs/stage1-stage2-refit.pt" "$out" --data "$data" --refine 2

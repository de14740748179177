#!/usr/bin/env bash
# Equal-budget ablation of the landmark recipe: every arm trains from scratch
# for the same short schedule on the same training images, then is measured
# on the whole test split with its recipe's own evaluation crop (facekp: from
# the true points, the tracking protocol; seed: the centre crop of the
# resized image, as the seed evaluated).
#
#   training/ablation.sh DATA OUT [EPOCHS=3] [LIMIT=1600] [THREADS=1]
#
# Arms: facekp 112² argmax (reference), seed recipe 112², facekp with max
# attention, facekp at 128².  Each arm resumes from OUT/ARM/last.pt, so the
# script can be stopped and run again.  Prints a Markdown table.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=${1:?usage: ablation.sh DATA OUT [EPOCHS] [LIMIT] [THREADS]}
out=${2:?usage: ablation.sh DATA OUT [EPOCHS] [LIMIT] [THREADS]}
epochs=${3:-3}
limit=${4:-1600}
threads=${5:-1}
export OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=0

arms=(
  "facekp-argmax-112|--recipe facekp --attention argmax --size 112"
  "seed-argmax-112|--recipe seed --attention argmax --size 112"
  "facekp-max-112|--recipe facekp --attention max --size 112"
  "facekp-argmax-128|--recipe facekp --attention argmax --size 128"
)
for arm in "${arms[@]}"; do
  name=${arm%%|*}
  # shellcheck disable=SC2086  # the arm's flags are meant to split
  /usr/bin/python3 "$here/train.py" --data "$data" --out "$out/$name" ${arm#*|} \
    --epochs "$epochs" --limit "$limit" --threads "$threads" --eval-every "$epochs"
done

/usr/bin/python3 - "$out" "$epochs" "$limit" "${arms[@]}" <<'PY'
import json, os, sys
out, epochs, limit, arms = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
print(f"\n{epochs} epochs on {limit} training images each; whole test split, each recipe's "
      "own evaluation crop (facekp: from the true points; seed: its centre crop of the "
      "resized image)\n")
print("| arm | flags | NME | median | failure > 0.08 | minutes |")
print("|---|---|---|---|---|---|")
for arm in arms:
    name, flags = arm.split("|", 1)
    with open(os.path.join(out, name, "history.json")) as f:
        h = json.load(f)
    last = h["history"][-1]
    print(f"| {name} | `{flags}` | {last['nme']:.4f} | {last['median']:.4f} "
          f"| {100 * last['failure']:.1f} % | {h['wall_seconds'] / 60:.1f} |")
PY

#!/usr/bin/env bash
# The dVAE recipe ablation of the README ("Recipes"): tiny, batch 32, seed 0, trained on
# crops of eight photos and scored on crops of three others (held out by photo).
#
#   python tools/make_photo_crops.py --split train --out DATA/photos-train --n 3000 --size 64 --seed 0
#   python tools/make_photo_crops.py --split test  --out DATA/photos-test  --n 300  --size 64 --seed 1
#   tools/recipe_ablation.sh DATA OUT [STEPS]      # one line per row; runs in OUT/<row>/
#
# Each row is `dvae train` with the flags below, then `dvae eval --json` on the test crops.
# The table's rows were measured with DALL·E's head, the default then, so every row has
# `--logits head` but the last, which has the default recipe's distances.
set -euo pipefail
data=$1 out=$2 steps=${3:-300}
dvae=${DVAE:-target/release/dvae}
mkdir -p "$out"
row() {
    local name=$1; shift
    local start=$(date +%s)
    "$dvae" train --preset tiny --steps "$steps" --batch 32 --seed 0 --holdout 0.02 \
        --data "$data/photos-train" --out "$out/$name" --checkpoint-every "$steps" \
        --logits "${logits:-head}" "$@" \
        >"$out/$name.log" 2>&1
    local wall=$(( $(date +%s) - start ))
    "$dvae" eval --run "$out/$name" --data "$data/photos-test" --json >"$out/$name.json"
    python3 - "$name" "$out/$name.json" "$wall" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
print(f"| {sys.argv[1]} | {r['psnr']:.2f} | {r['ssim']:.3f} | {100 * r['usage']:.1f}% "
      f"| {r['perplexity']:.0f} | {r['cell_entropy']:.2f} bits | {sys.argv[3]} s |")
PY
}
old=(--gumbel-scale 0.3 --diversity-weight 0.3 --cell-entropy-weight 0 --logit-scale-end 1)
row previous-default "${old[@]}"
row previous-cell-entropy-0.3 --gumbel-scale 0.3 --diversity-weight 0.3 --cell-entropy-weight 0.3 --logit-scale-end 1
row noise-1 --gumbel-scale 1 --diversity-weight 0.3 --cell-entropy-weight 0 --logit-scale-end 1
row noise-1-diversity-1 --gumbel-scale 1 --diversity-weight 1 --cell-entropy-weight 0 --logit-scale-end 1
row cell-entropy-0.1 --logit-scale-end 1
row cell-entropy-0.3 --cell-entropy-weight 0.3 --logit-scale-end 1
row soft-codebook-grad --logit-scale-end 1 --soft-codebook-grad true
row mse --logit-scale-end 1 --loss mse
row default
row logit-scale-4 --logit-scale-end 4
row logit-scale-30 --logit-scale-end 30
logits=distance row distance

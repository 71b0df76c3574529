#!/usr/bin/env bash
# dvae against PyTorch on this machine: the same work, the same thread count, run
# alternately (dvae, torch, torch, dvae, ...) in one go so that both see the same load.
# Prints each run's figures, then the median of each and the ratio dvae / PyTorch
# (above 1 means dvae is faster; for memory, below 1 means dvae uses less).
#
#   tools/bench-vs-torch.sh [WORKLOAD ...]     # default: bench tiny; also: dalle
#
# Environment:
#   PYTHON      python with torch and dall_e   (default /work/venv-ref/bin/python, else python3)
#   THREADS     compute threads of both        (default 2)
#   ROUNDS      alternating rounds             (default 3)
#   ITERS       timed iterations per run       (default 10; dalle 2)
#   TORCH_BENCH torch_bench.py of the `bench` workload (default ../shared/reference/torch_bench.py)
#   DVAE        the dvae binary                (default target/release/dvae, built if absent)
#   DALLE_DIR   full-size random dall_e encoder.pkl/decoder.pkl (made there if absent)
#
# Peak memory of both sides is the process's maximum resident set size (GNU time's %M).
# `bench`: torch_bench.py's model, batch 32 for training, encoding and decoding.
# `tiny`: tools/torch_tiny_bench.py (OpenAI's classes at the tiny preset's sizes), batch 32.
# `dalle`: tools/torch_openai_speed.py (OpenAI's full-size dVAE), encode and decode at batch
# 8 of 256x256; no training step. PyTorch runs encode and decode as two processes (its
# peak is the larger of the two); dvae runs both in one (its peak covers both).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x /work/venv-ref/bin/python ]]; then PYTHON=/work/venv-ref/bin/python; else PYTHON=python3; fi
fi
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-3}"
TORCH_BENCH="${TORCH_BENCH:-../shared/reference/torch_bench.py}"
DVAE="${DVAE:-target/release/dvae}"
DALLE_DIR="${DALLE_DIR:-${TMPDIR:-/tmp}/dvae-dalle-full}"
WORKLOADS=("$@")
[[ ${#WORKLOADS[@]} -gt 0 ]] || WORKLOADS=(bench tiny)

[[ -x "$DVAE" ]] || cargo build --release -p dvae-cli
"$PYTHON" -c "import torch" 2>/dev/null || { echo "error: $PYTHON has no torch (set PYTHON)" >&2; exit 1; }
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# run FILE CMD...: CMD's JSON line (its last stdout line) plus "peak_kb", appended to FILE.
run() {
  local file="$1"; shift
  local json
  json="$(/usr/bin/time -f '%M' -o "$OUT/rss" "$@" | tail -n 1)"
  jq -c --argjson kb "$(tail -n 1 "$OUT/rss")" '. + {peak_kb: $kb}' <<<"$json" | tee -a "$file"
}

dvae_run() { # WORKLOAD ITERS
  run "$OUT/$1.dvae" "$DVAE" bench --workload "$1" --threads "$THREADS" --iters "$2" --json
}

torch_run() { # WORKLOAD ITERS
  case "$1" in
    bench) run "$OUT/$1.torch" "$PYTHON" "$TORCH_BENCH" --threads "$THREADS" --batch 32 \
             --infer-batch 32 --steps "$2" --json ;;
    tiny) run "$OUT/$1.torch" "$PYTHON" tools/torch_tiny_bench.py --threads "$THREADS" \
            --batch 32 --iters "$2" --json ;;
    dalle)
      local e d
      e="$(run "$OUT/dalle.enc" "$PYTHON" tools/torch_openai_speed.py "$DALLE_DIR" encode 8 "$2" "$THREADS")"
      d="$(run "$OUT/dalle.dec" "$PYTHON" tools/torch_openai_speed.py "$DALLE_DIR" decode 8 "$2" "$THREADS")"
      jq -c -n --argjson e "$e" --argjson d "$d" \
        '{encode_img_s: $e.img_s, decode_img_s: $d.img_s, peak_kb: ([$e.peak_kb, $d.peak_kb] | max)}' \
        | tee -a "$OUT/dalle.torch" ;;
  esac
}

for w in "${WORKLOADS[@]}"; do
  iters="${ITERS:-10}"
  if [[ "$w" == dalle ]]; then
    iters="${ITERS:-2}"
    if [[ ! -f "$DALLE_DIR/decoder.pkl" ]]; then
      mkdir -p "$DALLE_DIR"
      "$PYTHON" - "$DALLE_DIR" <<'PY'
import os, sys, torch
from dall_e.encoder import Encoder
from dall_e.decoder import Decoder
torch.manual_seed(0)
torch.save(Encoder(requires_grad=False), os.path.join(sys.argv[1], "encoder.pkl"))
torch.save(Decoder(requires_grad=False), os.path.join(sys.argv[1], "decoder.pkl"))
PY
    fi
  fi
  echo "== $w: $ROUNDS rounds, $THREADS threads, $iters timed iterations, load: $(cut -d' ' -f1-3 /proc/loadavg)"
  for ((r = 0; r < ROUNDS; r++)); do
    if ((r % 2 == 0)); then dvae_run "$w" "$iters"; torch_run "$w" "$iters"
    else torch_run "$w" "$iters"; dvae_run "$w" "$iters"; fi
  done
done

echo
printf '%-7s %-9s %10s %10s %7s\n' workload op dvae pytorch ratio
for w in "${WORKLOADS[@]}"; do
  for op in train_img_s encode_img_s decode_img_s peak_kb; do
    med='[.[] | .'"$op"' | select(. != null)] | sort | if length == 0 then null else .[(length / 2 | floor)] end'
    ours="$(jq -s "$med" "$OUT/$w.dvae")"
    theirs="$(jq -s "$med" "$OUT/$w.torch")"
    [[ "$ours" == null || "$theirs" == null ]] && continue
    if [[ "$op" == peak_kb ]]; then
      ours="$(jq -n "$ours / 1024 | round")"; theirs="$(jq -n "$theirs / 1024 | round")"; op=peak_rss_mb
    fi
    printf '%-7s %-12s %10.2f %10.2f %7.2f\n' "$w" "$op" "$ours" "$theirs" \
      "$(jq -n "$ours / $theirs")"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"

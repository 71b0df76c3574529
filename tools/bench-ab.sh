#!/usr/bin/env bash
# Two dvae binaries against each other on this machine: `dvae bench` of each workload,
# alternating A and B (the order swapped every round, so both see the same drift), then
# the median of each and the ratio B / A (above 1 means B is faster).
#
#   tools/bench-ab.sh OLD_DVAE NEW_DVAE [WORKLOAD ...]    # default workloads: bench tiny
#
# Environment: ROUNDS (default 5), THREADS (default 2), ITERS (default 10).
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: $0 OLD_DVAE NEW_DVAE [WORKLOAD ...]" >&2; exit 2; }
a="$1"; b="$2"; shift 2
workloads=("$@"); [[ ${#workloads[@]} -gt 0 ]] || workloads=(bench tiny)
rounds="${ROUNDS:-5}"; threads="${THREADS:-2}"; iters="${ITERS:-10}"
out="$(mktemp)"; trap 'rm -f "$out"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 0; r < rounds; r++)); do
  for w in "${workloads[@]}"; do
    if ((r % 2 == 0)); then order=(A B); else order=(B A); fi
    for v in "${order[@]}"; do
      bin="$a"; [[ $v == B ]] && bin="$b"
      "$bin" bench --workload "$w" --threads "$threads" --iters "$iters" --json | tail -n 1 \
        | jq -c --arg v "$v" '. + {version: $v}' | tee -a "$out"
    done
  done
done
printf '\n%-7s %-13s %10s %10s %7s\n' workload op A B 'B/A'
for w in "${workloads[@]}"; do
  for op in train_img_s encode_img_s decode_img_s; do
    med() { jq -s "[.[] | select(.workload == \"$w\" and .version == \"$1\") | .$op | select(. != null)] | sort | if length == 0 then null else .[length / 2 | floor] end" "$out"; }
    x="$(med A)"; y="$(med B)"
    [[ "$x" == null || "$y" == null ]] && continue
    printf '%-7s %-13s %10.1f %10.1f %7.3f\n' "$w" "$op" "$x" "$y" "$(jq -n "$y / $x")"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"

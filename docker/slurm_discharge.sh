#!/bin/bash
# SLURM job: one study-size discharge on many ranks, resumable across wall-time limits.
#
#   sbatch docker/slurm_discharge.sh structure.npz 8
#
# Memory: `fem-assb discharge` prints its estimate (memory per rank, time) before it
# starts and refuses a run that does not fit; size --ntasks so that the estimate per
# rank is below the memory per task. Rule of thumb: ~6.6 kB per voxel of the virtual cell
# (ASSB; ~9.3 kB LIB) in all, plus ~0.16 GiB per rank.
#SBATCH --job-name=fem-assb
#SBATCH --nodes=1
#SBATCH --ntasks=16
#SBATCH --mem-per-cpu=2G
#SBATCH --time=02:00:00
#SBATCH --output=fem-assb-%j.log
#SBATCH --signal=B:USR1@300          # warn the script 5 min before the limit

set -euo pipefail
FILE=${1:?structure .npz}
CURRENT=${2:-8}
OUT=${OUT:-results/$(basename "$FILE" .npz)_${CURRENT}mA}
export OMP_NUM_THREADS=1

# resume when an earlier job of this run left a checkpoint (same --ntasks!)
RESUME=()
[ -f "$OUT/checkpoint/state.json" ] && RESUME=(--resume)

srun fem-assb discharge "$FILE" --electrolyte solid --current-density "$CURRENT" \
    -o "$OUT" --checkpoint-minutes 20 --fields-every 0 "${RESUME[@]}" --json \
    > "$OUT.json" || {
  echo "stopped before the cut-off: resubmit the same job to continue from $OUT/checkpoint"
  exit 1
}

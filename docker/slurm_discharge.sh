#!/bin/bash
# SLURM job: one study-size discharge on many ranks, resumable across wall-time limits.
#
#   sbatch docker/slurm_discharge.sh structure.npz 8
#
# Environment: FEM_ASSB_VENV (default: the repository's .venv, if there) is activated;
# else fem-assb must be on PATH. OUT (default results/<structure>_<I>mA) is the output
# directory; the run's JSON summary goes to OUT/result.json.
# Memory: `fem-assb discharge` prints its estimate (memory per rank, time) before it
# starts and refuses a run that does not fit; size --ntasks so that the estimate per
# rank is below the memory per task. Rule of thumb: ~5.7 kB per voxel of the virtual cell
# (ASSB; ~8.4 kB LIB) in all, plus ~0.16 GiB per rank.
# Wall time: 5 min before the limit SLURM sends USR1; the script passes it on as SIGTERM,
# fem-assb stops at its last accepted step (the periodic checkpoint holds the state) and
# the script says to resubmit; the next job resumes from OUT/checkpoint.
#SBATCH --job-name=fem-assb
#SBATCH --nodes=1
#SBATCH --ntasks=16
#SBATCH --mem-per-cpu=2G
#SBATCH --time=02:00:00
#SBATCH --output=fem-assb-%j.log
#SBATCH --signal=B:USR1@300          # warn the script 5 min before the limit

set -uo pipefail
# the wall-time warning (USR1) or a cancel (TERM) may come at any moment, even before the
# run starts: remembered, and passed on to the run as SIGTERM once it exists
PID=
STOP=
trap 'STOP=1; [ -n "$PID" ] && kill -TERM "$PID" 2> /dev/null' USR1 TERM
FILE=${1:?structure .npz}
CURRENT=${2:-8}
OUT=${OUT:-results/$(basename "$FILE" .npz)_${CURRENT}mA}
export OMP_NUM_THREADS=1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${FEM_ASSB_VENV:-$HERE/.venv}
if [ -f "$VENV/bin/activate" ]; then
  # shellcheck disable=SC1091
  source "$VENV/bin/activate"
fi
command -v fem-assb > /dev/null || { echo "fem-assb is not on PATH (set FEM_ASSB_VENV)"; exit 2; }
mkdir -p "$OUT"

# resume when an earlier job of this run left a checkpoint (same --ntasks!)
RESUME=()
[ -f "$OUT/checkpoint/state.json" ] && RESUME=(--resume)

srun fem-assb discharge "$FILE" --electrolyte solid --current-density "$CURRENT" \
    -o "$OUT" --checkpoint-minutes 20 --fields-every 0 "${RESUME[@]}" --json \
    > "$OUT/result.json" &
PID=$!
[ -n "$STOP" ] && kill -TERM "$PID" 2> /dev/null
wait "$PID"; RC=$?
if [ "$RC" -gt 128 ] && kill -0 "$PID" 2> /dev/null; then  # the trap interrupted wait
  wait "$PID"; RC=$?
fi
case "$RC" in
  0) echo "finished: $OUT/result.json" ;;
  130|143) echo "stopped before the end (signal): resubmit the same job to continue from $OUT/checkpoint" ;;
  2) echo "invalid input: see the error above (nothing to resume)" ;;
  4) echo "the run did not finish (solver failure or step limit): see $OUT/result.json" ;;
  *) echo "fem-assb failed (exit $RC)" ;;
esac
exit "$RC"

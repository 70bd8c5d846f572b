#!/usr/bin/env bash
# Run (or resume) every study-size sweep, one after another, two single-rank cases at a
# time; finished cases are kept, running ones continue from their checkpoints. Safe to
# kill and start again.   usage: bash benchmarks/study_size/run_all.sh [STUDY ...]
set -u
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
studies=("${@:-perforated_assb perforated_lib transference_lib layered_assb layered_assb_reversed}")
for name in ${studies[@]}; do
  case $name in
    perforated_*) base=perforated ;;
    transference_*) base=transference ;;
    layered_*) base=layered ;;
  esac
  .venv/bin/fem-assb study "$base" --config "benchmarks/study_size/$name.toml" \
    -o "benchmarks/results/study_size/$name" --jobs 2 --no-plot || true
done

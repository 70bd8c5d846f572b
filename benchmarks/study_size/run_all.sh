#!/usr/bin/env bash
# Run (or resume) every study-size sweep, one case at a time on 2 ranks (measured on the
# 2-core machines: an ASSB case 1182 s on two ranks, 1760-2280 s per case when two
# single-rank cases share the cores); finished cases are kept, running ones continue from
# their checkpoints (written on as many ranks). Safe to kill and start again.
# The cases that decide a trend come first: every sweep at its highest current, then the
# lower currents (a pass at one current runs the config with its current list narrowed;
# case keys do not depend on the list, so the passes share one results table, and a
# study.json already there, the whole sweep's, is put back after such a pass).
#   usage: bash benchmarks/study_size/run_all.sh
set -u
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() {  # run NAME [CURRENT]: the sweep NAME (all currents, or only CURRENT mA/cm²)
  local name=$1 base config=benchmarks/study_size/$1.toml
  local out=benchmarks/results/study_size/$1
  case $name in
    perforated_*) base=perforated ;;
    transference_*) base=transference ;;
    layered_*) base=layered ;;
  esac
  if [ $# -gt 1 ]; then
    sed "s/^current_densities_mA_cm2 = .*/current_densities_mA_cm2 = [$2]/" "$config" \
      > "$tmp/$name.toml"
    config=$tmp/$name.toml
    [ -f "$out/study.json" ] && cp "$out/study.json" "$tmp/$name.study.json"
  fi
  .venv/bin/mpiexec -n "${RANKS:-2}" .venv/bin/fem-assb study "$base" --config "$config" \
    -o "$out" --no-plot || true
  [ -f "$tmp/$name.study.json" ] && mv "$tmp/$name.study.json" "$out/study.json"
  return 0
}

run perforated_assb 8
run layered_assb 8
run layered_assb_reversed
run perforated_lib 8
run transference_lib
run perforated_assb 1
run layered_assb 6
run layered_assb 4
run perforated_lib 1

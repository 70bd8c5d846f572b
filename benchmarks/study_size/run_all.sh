#!/usr/bin/env bash
# Run (or resume) every study-size sweep, one case at a time on 2 ranks (measured on the
# 2-core machines: an ASSB case 1182 s on two ranks, 1760-2280 s per case when two
# single-rank cases share the cores); finished cases are kept, running ones continue from
# their checkpoints (written on as many ranks). Safe to kill and start again.
# Order: first the cases each trend of science.md §5 needs at minimum (every sweep at its
# highest current; then the few radii / fractions a lower current's trend needs), then
# the rest of the grid. A pass may narrow the config (its current list, or any other
# list: `run NAME CURRENT 'key = [..]'`); case keys do not depend on the lists, so the
# passes share one results table, and a study.json already there, the whole sweep's, is
# put back after a narrowed pass. A cause_NAME config (a diagnostic run of item 5) writes
# to benchmarks/results/study_size/cause/NAME.
#   usage: bash benchmarks/study_size/run_all.sh
set -u
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() {  # run NAME [CURRENT|-] ['KEY = VALUE' ...]: the sweep NAME, narrowed
  local name=$1 base config=benchmarks/study_size/$1.toml line key
  local out=benchmarks/results/study_size/$1
  [[ $name == cause_* ]] && out=benchmarks/results/study_size/cause/${name#cause_}
  shift
  case ${name#cause_} in
    perforated_*) base=perforated ;;
    *transference*) base=transference ;;
    layered_*) base=layered ;;
  esac
  if [ $# -gt 0 ]; then
    cp "$config" "$tmp/$name.toml"
    config=$tmp/$name.toml
    [ "$1" != - ] && set -- "current_densities_mA_cm2 = [$1]" "${@:2}" || shift
    for line in "$@"; do
      key=${line%% *}
      sed -i "s/^$key = .*/$line/" "$config"
      grep -qxF "$line" "$config" || { echo "run_all: no '$key' in $name.toml" >&2; return 0; }
    done
    [ -f "$out/study.json" ] && cp "$out/study.json" "$tmp/$name.study.json"
  fi
  .venv/bin/mpiexec -n "${RANKS:-2}" .venv/bin/fem-assb study "$base" --config "$config" \
    -o "$out" --no-plot || true
  [ -f "$tmp/$name.study.json" ] && mv "$tmp/$name.study.json" "$out/study.json"
  return 0
}

# each trend's minimum
run perforated_assb 8
run layered_assb 8
run layered_assb_reversed
run perforated_lib 8 "radii_um = [0, 8, 16, 20]"
run transference_lib - "radii_um = [0, 16]"
run layered_assb 6 "layer_fractions = [0.0, 0.5, 0.8, 0.9]"
run layered_assb 4 "layer_fractions = [0.0, 0.5, 0.8, 0.9]"
run perforated_assb 1 "radii_um = [0, 16, 36]"
run perforated_lib 1 "radii_um = [0, 16, 36]"
# item 5: where the LIB t+ trend differs, its cause (cause_*.toml -> results in cause/)
run cause_lib_transference_nyman
# the rest of the grid
run transference_lib
run perforated_lib 8
run layered_assb 6
run layered_assb 4
run perforated_assb 1
run perforated_lib 1

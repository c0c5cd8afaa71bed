#!/usr/bin/env bash
# The paper's grid on covid-ct at 64 px (issue: the paper's table), one fixed build, resumable:
# run this again after a stop and every finished (run, seed) is skipped, a killed one resumes
# after its last finished epoch. Order: what the table needs most first.
cd "$(dirname "$0")"
export XDG_RUNTIME_DIR=/tmp
BIN=./heft-77c25a3
for r in alexnet-teacher squeezenet1_1-teacher alexnet-method alexnet-scratch squeezenet1_1-method \
         squeezenet1_1-scratch alexnet-no-kd alexnet-square alexnet-approx-relu alexnet-layer alexnet-smooth \
         squeezenet1_1-no-kd squeezenet1_1-approx-relu; do
    echo "== $(date -u +%FT%TZ) $r"
    $BIN experiment ct64/experiment.toml --run "$r" --quiet
    echo "   exit $?"
done
$BIN experiment ct64/experiment.toml --report

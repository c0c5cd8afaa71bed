#!/usr/bin/env bash
# The paper's grid on covid-ct at 64 px, resumable: run this again after a stop and every
# finished (run, seed) is skipped, a killed one resumes after its last finished epoch.
#
#   GRID=/work/grid bash results/ct64/run.sh        train what is left, then write the report
#   GRID=/work/grid bash results/ct64/run.sh save   report, and copy every finished seed back here
#
# It runs in $GRID (default /work/grid, outside the work tree) with one fixed build, heft at
# commit 77c25a3 (cargo build --release at that commit, copied to $GRID/heft-77c25a3); the report
# is written by $GRID/heft-report (a newer heft: its table has each student's HE depth and ring
# dimension), else by the fixed build. The experiment file is copied there as
# ct64/experiment.toml (runs whose settings it keeps are skipped).
#
# A machine whose $GRID was wiped loses only the runs in progress: every finished seed kept here
# (metrics, done marker, failed.txt, checkpoints) is copied into $GRID when it has no such folder.
# A teacher seed kept without its checkpoint is not copied: it is trained again (same seed and
# recipe), since the students still to come start from it, and `save` then shows in git whether
# its metrics came out the same.
#
# Order: what the table needs most first. Some runs get some seeds before the rest
# (ct64/seeds-*.toml: the same file with fewer seeds, trained into the same folders, so the full
# file skips those seeds later): seed 1 of the one-seed ablations (their seed-1 teachers are
# kept here) and the -nobound scratch seed whose default-bound twin the bound rolled back, then
# the teachers' other seeds, then the -nobound seeds whose twins the bound never touched (the
# same computation again: a check that a run is a function of seed and adapter) and the
# ablations' seeds 2 and 3.
set -u
main() {
    HERE=$(cd "$(dirname "$0")" && pwd)
    GRID=${GRID:-/work/grid}
    BIN=$GRID/heft-77c25a3
    [ -x "$BIN" ] || { echo "no $BIN: build heft at commit 77c25a3 (cargo build --release) and copy it there"; exit 2; }
    REPORT=$GRID/heft-report
    [ -x "$REPORT" ] || REPORT=$BIN
    mkdir -p "$GRID/ct64"
    cp "$HERE/experiment.toml" "$GRID/ct64/experiment.toml"
    cd "$GRID"
    export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
    if [ "${1:-}" = save ]; then save; exit; fi
    restore
    for seeds in "1" "2" "1, 2"; do
        sed "s/^seeds = .*/seeds = [$seeds]/" ct64/experiment.toml > "ct64/seeds-${seeds/, /-}.toml"
    done
    # squeezenet1_1-method and -norange are not trained again: each has one seed stopped (the
    # bound, a divergence) the same way every time; squeezenet1_1-method-nobound is the method
    # under IBM's stopping rule.
    local one="alexnet-square alexnet-approx-relu alexnet-layer alexnet-smooth squeezenet1_1-no-kd squeezenet1_1-approx-relu"
    train seeds-1.toml alexnet-no-kd
    train seeds-2.toml squeezenet1_1-scratch-nobound    # seed 2 rolled back twice by the bound
    for r in $one; do train seeds-1.toml "$r"; done
    for r in alexnet-teacher squeezenet1_1-teacher squeezenet1_1-method-nobound; do
        train experiment.toml "$r"                      # teacher seeds trained again; method seed 3
    done
    train experiment.toml alexnet-no-kd
    train experiment.toml squeezenet1_1-scratch-nobound # seeds 1 and 3: rolled back on NaN only
    for r in $one; do train experiment.toml "$r"; done
    "$REPORT" experiment ct64/experiment.toml --report
}
train() {
    echo "== $(date -u +%FT%TZ) $2 ($1)"
    "$BIN" experiment "ct64/$1" --run "$2" --quiet
    echo "   exit $?"
}
# Every seed kept in the work tree that $GRID lacks, but a teacher seed without its checkpoint.
restore() {
    local d rel
    for d in "$HERE"/*/seed-*; do
        rel=${d#"$HERE"/}
        [ -e "ct64/$rel" ] && continue
        [ -e "$d/teacher_done.json" ] && [ ! -e "$d/teacher.safetensors" ] && continue
        mkdir -p "ct64/$(dirname "$rel")" && cp -r "$d" "ct64/$rel"
    done
}
# The report, then each finished or failed seed's files back into the work tree: metrics, done
# marker, failed.txt, every teacher's checkpoint (the students start from it) and seed 1's
# method-student checkpoints (tools/he encrypts them). Runs in progress are not copied.
save() {
    "$REPORT" experiment ct64/experiment.toml --report || exit 1
    cp ct64/results.md ct64/results.json ct64/comparison.png "$HERE/"
    local d rel f
    for d in ct64/*/seed-*; do
        ls "$d"/*_done.json "$d"/failed.txt >/dev/null 2>&1 || continue
        rel=${d#ct64/}
        mkdir -p "$HERE/$rel"
        for f in "$d"/*_metrics.jsonl "$d"/*_done.json "$d"/failed.txt "$d"/teacher.safetensors "$d"/teacher.json; do
            [ -e "$f" ] && cp "$f" "$HERE/$rel/"
        done
        case $rel in
            alexnet-method/seed-1 | squeezenet1_1-method/seed-1) cp "$d"/student.safetensors "$d"/student.json "$HERE/$rel/" ;;
        esac
    done
    echo "saved into $HERE; git status shows what changed"
}
main "$@"; exit

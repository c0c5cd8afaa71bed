#!/usr/bin/env bash
# Depth-budget students of the CT AlexNet x0.5 method student (grid seed 1), one after another.
cd /work/depth
export XDG_RUNTIME_DIR=/tmp
R=/work/main/results/ct64
for D in 9 11 7; do
  echo "== $(date -u +%FT%TZ) budget $D"
  ./heft-4f7f5e7 train-student --teacher $R/alexnet-teacher/seed-1/teacher.safetensors \
    --from-student $R/alexnet-method/seed-1/student.safetensors --depth-budget $D \
    --data /work/shared/datasets/covid-ct --epochs 10 --batch 32 --lr 1e-4 --clip-value 1 --seed 1 \
    --quiet --out /work/depth/d$D 2>&1
  echo "   exit $?"
done

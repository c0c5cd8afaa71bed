#!/usr/bin/env bash
# ResNet-20 at 32 px on a covid-ct subset: the teacher on /work/depth/ct-sub (train 999 and val
# 299 images, every ~3rd and ~2nd slice by name; the full test split of 690), the students on
# ct-sub-v100 (the same train and test, val every 3rd of those 299: the depth budget evaluates
# every candidate activation on it each round). Teacher, method student, depth-budget students
# from the method student. Resumable: a finished run is skipped, a killed one resumes.
cd /work/depth
export XDG_RUNTIME_DIR=/tmp
B=./heft-cd5e75d
C="--batch 32 --seed 1 --quiet --no-tune"
# the method student with the default init (0, 0.5, 0.05) diverged at once (layer3.2.act2 input
# 5.5e3 within 9 steps, at every rollback): c2 starts at 0.01 and the range loss holds inputs to 10
S="--data /work/depth/ct-sub-v100 --epochs 4 --lr 1e-4 --clip-value 1 --init 0,0.5,0.01 --range-weight 0.001 $C"
echo "== $(date -u +%FT%TZ) resnet20 teacher"
$B train-teacher --model resnet20 --input 32 --epochs 12 --data /work/depth/ct-sub $C --out r20s/t 2>&1; echo "   exit $?"
echo "== $(date -u +%FT%TZ) resnet20 method student"
$B train-student --teacher r20s/t/teacher.safetensors $S --out r20s/m 2>&1; echo "   exit $?"
for d in 25 20; do
  echo "== $(date -u +%FT%TZ) resnet20 depth $d"
  $B train-student --teacher r20s/t/teacher.safetensors --from-student r20s/m/student.safetensors --depth-budget $d $S --out r20s/d$d 2>&1; echo "   exit $?"
done

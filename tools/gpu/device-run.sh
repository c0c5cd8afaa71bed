#!/usr/bin/env bash
# One run on a lent GPU machine: the checks and figures BENCHMARKS.md asks for (the adapter,
# `heft check`, the GEMM variants at 4096³ and the convolutions in both forms, the tuned
# choice, and training steps beside PyTorch CUDA where the machine has torch), each step
# capped in time so that one call of the device tool covers it all.
#
# The device machine cannot fetch crates: build the release binary here and carry it, e.g.
#   cargo build --release
#   run(command="tools/gpu/device-run.sh", carry=["target/release/heft"], timeout_s=600)
# Output: one file per step under $OUT (the device tool's folder), or ./gpu-run.
set -u
BIN=${HEFT_BIN:-target/release/heft}
OUT=${OUT:-gpu-run}
mkdir -p "$OUT"
export HEFT_CACHE_DIR="$OUT/cache"

step() { # step NAME SECONDS COMMAND...
    local name=$1 secs=$2
    shift 2
    echo "== $name ($secs s): $*"
    timeout "$secs" "$@" > "$OUT/$name.txt" 2>&1
    echo "   exit $?"
    tail -n 30 "$OUT/$name.txt"
}

[ -x "$BIN" ] || { echo "no heft binary at $BIN: build it with cargo build --release and carry it"; exit 2; }
git rev-parse --short HEAD 2>/dev/null | sed 's/^/commit /'
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | sed 's/^/nvidia-smi: /'
step adapters 15 "$BIN" adapters
step check 100 "$BIN" check
step kernels 90 "$BIN" bench --gemm 4096 --reps 5
# tunes the large steps' GEMMs and convolutions on first use, then times them
step steps-large 120 "$BIN" bench --steps --large --reps 5
PEER=()
if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    PEER=(--compare --python python3)
fi
step steps-quick 60 "$BIN" bench --steps --quick --reps 5 "${PEER[@]}"
# every step pair, the SqueezeNet 1.1 64 px BN pair and the tiny AlexNet among them (static choice:
# tuning all their shapes would not fit the time)
step steps-all 150 "$BIN" bench --steps --no-tune --reps 5 "${PEER[@]}"
[ ${#PEER[@]} -gt 0 ] && step steps-large-torch 45 python3 benches/peers/torch_step.py --device cuda --reps 5 \
    --json '[{"arch":"alexnet","input":224,"width":1.0,"hidden":4096,"student":false,"batch":128},{"arch":"alexnet","input":224,"width":1.0,"hidden":4096,"student":true,"batch":128}]'
ls "$OUT"/cache/*.json 2>/dev/null | sed 's/^/tuning cache: /'

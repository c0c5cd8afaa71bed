#!/usr/bin/env bash
# Runs the ignored Slurm test of `heft experiment --emit slurm` (tests/slurm.rs): starts a
# single-node cluster with start-cluster.sh (apt-get install -y slurm-wlm first), then
# `cargo test --test slurm -- --ignored`. HEFT_SLURM_GPUS=N declares N GPUs and asks for them.
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(tools/slurm/start-cluster.sh)"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
cargo test --test slurm -- --ignored --nocapture the_emitted_job_arrays_run_on_a_real_slurm_cluster

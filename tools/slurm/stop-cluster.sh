#!/usr/bin/env bash
# Stops the test cluster start-cluster.sh started (slurmd, slurmctld, by their pid files).
set -euo pipefail
dir=${HEFT_SLURM_DIR:-/tmp/heft-slurm}
for d in slurmd slurmctld; do
    [ -f "$dir/$d.pid" ] && kill "$(cat "$dir/$d.pid")" && echo "stopped $d"
done

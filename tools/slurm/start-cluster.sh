#!/usr/bin/env bash
# Starts a single-node Slurm cluster on this machine for tests (munged, slurmctld, slurmd, all as
# root, state in $HEFT_SLURM_DIR), with a minimal slurm.conf written for this host's name and
# CPUs (`slurmd -C`). Prints the `export SLURM_CONF=...` line the Slurm commands need.
# Needs: apt-get install -y slurm-wlm (brings munge). GPUs: set HEFT_SLURM_GPUS=N to declare N
# GPUs (Gres=gpu:N with /dev/nvidia*); without it the node has none (GresTypes is still gpu,
# so `--gres=gpu:0` scripts are accepted).
set -euo pipefail
dir=${HEFT_SLURM_DIR:-/tmp/heft-slurm}
gpus=${HEFT_SLURM_GPUS:-0}
host=$(hostname -s)
mkdir -p "$dir"/ctld "$dir"/spool "$dir"/log
node=$(slurmd -C | head -1)
[ -n "$node" ] || { echo "slurmd -C printed nothing: is slurm-wlm installed?" >&2; exit 1; }
gres=""
if [ "$gpus" -gt 0 ]; then
    gres=" Gres=gpu:$gpus"
    : > "$dir/gres.conf"
    for i in $(seq 0 $((gpus - 1))); do echo "NodeName=$host Name=gpu File=/dev/nvidia$i" >> "$dir/gres.conf"; done
fi
cat > "$dir/slurm.conf" <<CONF
ClusterName=heft-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
$node$gres State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$dir/slurm.conf
# munge: the package's key; start the daemon unless one answers
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
    runuser -u munge -- /usr/sbin/munged || /usr/sbin/munged --force
    sleep 1
    munge -n | unmunge >/dev/null
fi
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 1 30); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        echo "export SLURM_CONF=$SLURM_CONF"
        exit 0
    fi
    sleep 1
done
echo "the node did not come up; see $dir/log/" >&2
sinfo >&2 || true
exit 1

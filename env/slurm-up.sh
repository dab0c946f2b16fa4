#!/usr/bin/env bash
# Configure and start a single-node Slurm cluster on this machine (no systemd needed):
# munged, slurmctld and slurmd as daemons, as root. Idempotent: a running healthy cluster is left as
# it is. Used by `make setup`, CI and `make demo-slurm`; see ../shared/notes/slurm-in-ci.md.
set -euo pipefail
CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
NODE="$(hostname -s)"
log() { printf '[slurm-up] %s\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  log "not root: skipping the local cluster (use your site's Slurm)"; exit 0
fi

mkdir -p "$CONF_DIR" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
chown munge:munge /run/munge 2>/dev/null || true
want="$(cat <<CONFEOF
# Written by lmeff env/slurm-up.sh: a one-node cluster for tests and demos.
ClusterName=lmeff
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
MinJobAge=600
MailProg=/bin/true
RequeueExit=75
MpiDefault=pmix
ReturnToService=2
SchedulerParameters=sched_interval=5,bf_interval=5
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=4 RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP PriorityTier=1 GraceTime=15
PartitionName=high Nodes=$NODE Default=NO MaxTime=INFINITE State=UP PriorityTier=10
CONFEOF
)"
changed=0
if [[ ! -f "$CONF" ]] || [[ "$(cat "$CONF")" != "$want" ]]; then
  printf '%s\n' "$want" >"$CONF.tmp" && mv "$CONF.tmp" "$CONF"
  changed=1
fi

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
if ! pgrep -x munged >/dev/null; then
  [[ -f /etc/munge/munge.key ]] || { /usr/sbin/mungekey --create 2>/dev/null || /usr/sbin/create-munge-key -f; chown munge:munge /etc/munge/munge.key; }
  log "starting munged"; su -s /bin/sh munge -c /usr/sbin/munged
fi
if ((changed)); then
  for p in /run/slurmd.pid /run/slurmctld.pid; do alive "$p" && kill "$(cat "$p")" && sleep 1; done
fi
alive /run/slurmctld.pid || { log "starting slurmctld"; slurmctld; }
alive /run/slurmd.pid || { log "starting slurmd"; slurmd; }

for _ in $(seq 1 30); do
  state="$(sinfo -h -N -o '%t' 2>/dev/null | head -n1)"
  [[ "$state" == idle* || "$state" == mix* || "$state" == alloc* ]] && { log "node $NODE is $state"; exit 0; }
  [[ "$state" == down* || "$state" == drain* ]] && scontrol update nodename="$NODE" state=resume 2>/dev/null || true
  sleep 1
done
log "error: the Slurm node did not become idle (see /var/log/slurm/*.log)"; exit 1

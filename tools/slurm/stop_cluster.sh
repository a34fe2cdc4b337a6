#!/usr/bin/env bash
# Stop the throwaway Slurm cluster started by tools/slurm/start_cluster.sh.
# Only signals the PIDs recorded in $BASE/run/*.pid (and checks the process name first).
#   --purge : afterwards delete generated state (config, state, spool, db, logs, key), keep scripts.
set -uo pipefail

BASE=${SLURM_LOCAL_DIR:-/tmp/slurm_local}
PURGE=0; [ "${1:-}" = "--purge" ] && PURGE=1
log() { echo "[stop_cluster $(date +%T)] $*"; }

# stop PIDFILE COMM : TERM, wait up to 30s, then KILL
stop() {
  local pf=$1 comm=$2 pid
  [ -s "$pf" ] || { log "$comm: no pid file"; return 0; }
  pid=$(cat "$pf")
  if ! kill -0 "$pid" 2>/dev/null || [ "$(cat /proc/"$pid"/comm 2>/dev/null)" != "$comm" ]; then
    log "$comm: pid $pid not running (stale pid file)"; rm -f "$pf"; return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then log "$comm: pid $pid ignored TERM, sending KILL"; kill -KILL "$pid"; fi
  rm -f "$pf"
  log "$comm: stopped pid $pid"
}

# Cancel jobs still in our private cluster so no orphan slurmstepd/job processes outlive slurmd.
if [ -s "$BASE/run/slurmctld.pid" ] && command -v squeue >/dev/null && scontrol ping 2>/dev/null | grep -q 'is UP'; then
  if [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
    log "cancelling remaining jobs"; scancel --full --quiet $(squeue -h -o %i) 2>/dev/null || true
    for _ in $(seq 1 60); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.5; done
  fi
fi

stop "$BASE/run/slurmd.pid" slurmd
stop "$BASE/run/slurmctld.pid" slurmctld
stop "$BASE/run/slurmdbd.pid" slurmdbd
stop "$BASE/mysqlrun/mysqld.pid" mariadbd
stop "$BASE/run/munged.pid" munged

if [ "$PURGE" = 1 ]; then
  for f in slurm.conf slurmdbd.conf; do
    [ "$(readlink "/etc/slurm/$f" 2>/dev/null)" = "$BASE/$f" ] && rm -f "/etc/slurm/$f"
  done
  rm -rf "$BASE"/{run,log,state,spool,munge,mysql,mysqlrun,slurm.conf,slurmdbd.conf,first_job_id}
  log "purged generated state under $BASE"
fi

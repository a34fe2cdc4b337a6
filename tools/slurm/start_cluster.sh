#!/usr/bin/env bash
# Start a throwaway single-node Slurm cluster on this machine, for mbdpo-bench's `launcher=slurm`
# tests (tests/test_slurm*.py) and for trying the Slurm launcher on a workstation.
# Debian 12 (bookworm), run as root, no systemd needed. Stop it with tools/slurm/stop_cluster.sh.
# Idempotent: installs missing packages, (re)writes config, starts only daemons that are
# not already running (tracked by pid files under $BASE/run), waits until the node is idle.
#
#   WITH_ACCOUNTING=1 (default): also runs MariaDB + slurmdbd so `sacct` works. submitit
#     polls `sacct` to notice jobs that ended WITHOUT writing a result (scancel, node kill,
#     OOM...). Without it such a job's .result() blocks forever.
#   WITH_ACCOUNTING=0: accounting_storage/none (faster, fewer packages; see caveat above).
#
# Ports used on 127.0.0.1: 6817 slurmctld, 6818 slurmd, 6819 slurmdbd, 13306 mariadb.
#
# Pitfalls this script handles (each cost a debugging session):
#  - munge runs on a private socket, so BOTH slurm.conf and slurmdbd.conf need
#    AuthInfo=socket=..., and AccountingStoragePass must name that socket too.
#  - AuthInfo cred_expire=10 and SchedulerParameters sched_interval=2,bf_interval=2: a requeued
#    job (submitit's checkpoint/requeue) may start again after ~11 s instead of ~120 s.
#  - DefMemPerCPU: with CR_Core_Memory and no default, every job gets the node's whole memory,
#    so jobs never run in parallel.
#  - Job ids: after a purge (stop_cluster.sh --purge) slurmctld would restart ids at 1, and ids
#    that collide with older jobs make submitit and sacct read stale files/records. FirstJobId is
#    therefore taken from the clock when the state directory is fresh.
#  - submitit ignores SIGTERM; KillWait=2 makes a scancel'd job die (SIGKILL) 2 s later.
set -euo pipefail

BASE=${SLURM_LOCAL_DIR:-/tmp/slurm_local}
WITH_ACCOUNTING=${WITH_ACCOUNTING:-1}
NODE=$(hostname -s)
export DEBIAN_FRONTEND=noninteractive
T_START=$(date +%s)

log() { echo "[start_cluster $(date +%T)] $*"; }
die() { echo "[start_cluster] ERROR: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root"
mkdir -p "$BASE"/{run,log,state,spool,munge}

# ---------------------------------------------------------------- install
PKGS="munge slurmctld slurmd slurm-client"
need_install=0
for b in munged slurmctld slurmd sbatch; do command -v "$b" >/dev/null || need_install=1; done
if [ "$WITH_ACCOUNTING" = 1 ]; then
  PKGS="$PKGS slurmdbd mariadb-server"
  for b in slurmdbd mariadbd mariadb-install-db; do command -v "$b" >/dev/null || need_install=1; done
fi
if [ "$need_install" = 1 ]; then
  log "installing: $PKGS"
  # never let package scripts start system-wide munge/slurm/mariadb services
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1
  fi
  t=$(date +%s)
  apt-get update -q >/dev/null </dev/null
  apt-get install -y -q --no-install-recommends $PKGS >"$BASE/log/apt.log" 2>&1 </dev/null \
    || { tail -30 "$BASE/log/apt.log"; die "apt-get install failed"; }
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  log "install took $(( $(date +%s) - t ))s"
fi

# ---------------------------------------------------------------- helpers
# running PIDFILE COMM -> 0 if the pid in PIDFILE is alive and is the expected program
running() {
  local pf=$1 comm=$2 pid
  [ -s "$pf" ] || return 1
  pid=$(cat "$pf")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$comm" ]
}
wait_for() {  # wait_for SECONDS DESCRIPTION CMD...
  local secs=$1 what=$2; shift 2
  for _ in $(seq 1 $((secs * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  die "timed out after ${secs}s waiting for $what"
}

chmod 755 "$BASE" "$BASE/munge"   # munged requires o+x on its socket dir

# ---------------------------------------------------------------- munge
MUNGE_SOCK=$BASE/munge/munge.socket
if [ ! -s "$BASE/munge/munge.key" ]; then
  dd if=/dev/urandom of="$BASE/munge/munge.key" bs=1024 count=1 status=none
fi
chown root:root "$BASE/munge/munge.key"; chmod 600 "$BASE/munge/munge.key"
if running "$BASE/run/munged.pid" munged; then
  log "munged already running (pid $(cat "$BASE/run/munged.pid"))"
else
  rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock"
  munged --key-file="$BASE/munge/munge.key" --socket="$MUNGE_SOCK" \
         --pid-file="$BASE/run/munged.pid" --log-file="$BASE/log/munged.log" \
         --seed-file="$BASE/munge/munged.seed" </dev/null
  wait_for 10 munged bash -c "munge -S '$MUNGE_SOCK' -n | unmunge -S '$MUNGE_SOCK'"
  log "munged started (pid $(cat "$BASE/run/munged.pid"))"
fi

# ---------------------------------------------------------------- mariadb + slurmdbd
if [ "$WITH_ACCOUNTING" = 1 ]; then
  DB_DIR=$BASE/mysql; DB_RUN=$BASE/mysqlrun; DB_SOCK=$DB_RUN/mysqld.sock
  mkdir -p "$DB_DIR" "$DB_RUN"; chown mysql:mysql "$DB_DIR" "$DB_RUN"
  if [ ! -d "$DB_DIR/mysql" ]; then
    log "initialising mariadb datadir"
    mariadb-install-db --no-defaults --user=mysql --datadir="$DB_DIR" \
      --auth-root-authentication-method=socket --skip-test-db >"$BASE/log/mariadb-install.log" 2>&1 </dev/null \
      || { tail -20 "$BASE/log/mariadb-install.log"; die "mariadb-install-db failed"; }
  fi
  if running "$DB_RUN/mysqld.pid" mariadbd; then
    log "mariadbd already running (pid $(cat "$DB_RUN/mysqld.pid"))"
  else
    setsid mariadbd --no-defaults --user=mysql --datadir="$DB_DIR" --socket="$DB_SOCK" \
      --pid-file="$DB_RUN/mysqld.pid" --bind-address=127.0.0.1 --port=13306 \
      --log-error="$DB_RUN/mysqld.log" --innodb-buffer-pool-size=128M \
      --innodb-lock-wait-timeout=900 </dev/null >/dev/null 2>&1 &
    wait_for 60 mariadbd mariadb-admin --no-defaults -S "$DB_SOCK" ping
    log "mariadbd started (pid $(cat "$DB_RUN/mysqld.pid"))"
  fi
  mariadb --no-defaults -S "$DB_SOCK" -u root </dev/null -e "
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmdbpass';
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmdbpass';
    CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
    FLUSH PRIVILEGES;"

  cat > "$BASE/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
DbdHost=$NODE
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
DebugLevel=info
LogFile=$BASE/log/slurmdbd.log
PidFile=$BASE/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=13306
StorageUser=slurm
StoragePass=slurmdbpass
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$BASE/slurmdbd.conf"   # slurmdbd refuses a group/world-readable config
  ACCT="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
AccountingStoragePass=$MUNGE_SOCK"
else
  ACCT="AccountingStorageType=accounting_storage/none"
fi

# ---------------------------------------------------------------- slurm.conf
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 - 1024 ))
# fresh state -> job ids start from a clock-derived value (see the pitfalls above)
FIRST_JOB_ID=$(cat "$BASE/first_job_id" 2>/dev/null || true)
if [ -z "$FIRST_JOB_ID" ] || [ -z "$(ls -A "$BASE/state" 2>/dev/null)" ]; then
  FIRST_JOB_ID=$(( ( $(date +%s) / 10 ) % 30000000 + 1000 ))
  echo "$FIRST_JOB_ID" > "$BASE/first_job_id"
fi
TOPO=$(slurmd -C 2>/dev/null | head -1 | grep -o 'SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*' \
       | sed 's/SocketsPerBoard=/Sockets=/' || true)
cat > "$BASE/slurm.conf.new" <<EOF
# Minimal single-node Slurm config (generated by $BASE/start_cluster.sh)
ClusterName=local
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
# private munge socket; cred_expire also = delay before a requeued job may restart (default 120s)
AuthInfo=socket=$MUNGE_SOCK,cred_expire=10
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
$ACCT
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without a default, CR_*_Memory gives each job the whole node's memory -> no parallelism
DefMemPerCPU=512
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
MinJobAge=300
FirstJobId=$FIRST_JOB_ID
# submitit ignores SIGTERM; scancel'd jobs get SIGKILL after KillWait seconds
KillWait=2
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS $TOPO RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
mv "$BASE/slurm.conf.new" "$BASE/slurm.conf"

# clients (sbatch/squeue/sacct/scancel run by submitit) read /etc/slurm/slurm.conf by default
mkdir -p /etc/slurm
for f in slurm.conf slurmdbd.conf; do
  [ -e "$BASE/$f" ] || continue
  if [ -e "/etc/slurm/$f" ] && [ ! -L "/etc/slurm/$f" ]; then
    mv "/etc/slurm/$f" "/etc/slurm/$f.bak.$(date +%s)"; log "moved existing /etc/slurm/$f aside"
  fi
  ln -sfn "$BASE/$f" "/etc/slurm/$f"
done

# ---------------------------------------------------------------- slurm daemons
if [ "$WITH_ACCOUNTING" = 1 ]; then
  if running "$BASE/run/slurmdbd.pid" slurmdbd; then
    log "slurmdbd already running (pid $(cat "$BASE/run/slurmdbd.pid"))"
  else
    slurmdbd </dev/null
    wait_for 60 slurmdbd sacctmgr -n show cluster
    log "slurmdbd started (pid $(cat "$BASE/run/slurmdbd.pid"))"
  fi
fi

if running "$BASE/run/slurmctld.pid" slurmctld; then
  log "slurmctld already running (pid $(cat "$BASE/run/slurmctld.pid")); reconfiguring"
  scontrol reconfigure || true
else
  slurmctld </dev/null
  wait_for 60 slurmctld bash -c "scontrol ping | grep -q 'is UP'"
  log "slurmctld started (pid $(cat "$BASE/run/slurmctld.pid"))"
fi

if running "$BASE/run/slurmd.pid" slurmd; then
  log "slurmd already running (pid $(cat "$BASE/run/slurmd.pid"))"
else
  slurmd </dev/null
  wait_for 30 slurmd test -s "$BASE/run/slurmd.pid"
  log "slurmd started (pid $(cat "$BASE/run/slurmd.pid"))"
fi

# ---------------------------------------------------------------- wait for idle node
for i in $(seq 1 120); do
  state=$(sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -1 || true)
  case "$state" in
    idle|mixed|allocated) break ;;
    drain*|down*|fail*) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
case "$state" in idle|mixed|allocated) ;; *)
  tail -20 "$BASE/log/slurmctld.log" "$BASE/log/slurmd.log" >&2; die "node $NODE not usable (state: '$state')";;
esac
sinfo
log "cluster up in $(( $(date +%s) - T_START ))s (node $NODE: $state)"

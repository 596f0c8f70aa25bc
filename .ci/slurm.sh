#!/usr/bin/env bash
# A single-node Slurm on this machine, for `python -m bench launch` and tests/harness/test_launch.py.
#
#   bash .ci/slurm.sh          # start munged, slurmctld, slurmd (as root; idempotent) and wait until idle
#   bash .ci/slurm.sh stop     # stop the daemons this script started (by the pid files it keeps)
#
# Pid files and logs go to $FRAMEBENCH_SLURM_DIR (default /run/framebench-slurm); "started" there lists
# the daemons this script started, and `stop` stops only those. Any failure: one line on stderr, exit 1.
set -uo pipefail

DIR=${FRAMEBENCH_SLURM_DIR:-/run/framebench-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by framebench .ci/slurm.sh"
HOST=$(hostname -s)
WAIT_S=${FRAMEBENCH_SLURM_WAIT_S:-60}

fail() { echo "slurm.sh: $*" >&2; exit 1; }

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
pidfile() { if [ "$1" = munged ]; then echo "$DIR/munge/munged.pid"; else echo "$DIR/$1.pid"; fi; }

stop() {
  [ -f "$DIR/started" ] || { echo "slurm.sh: nothing to stop (no $DIR/started)"; return 0; }
  local name pid
  for name in slurmd slurmctld munged; do  # the reverse of the start order
    grep -qx "$name" "$DIR/started" || continue
    pid=$(cat "$(pidfile "$name")" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  done
  rm -f "$DIR/started"
  echo "slurm.sh: stopped $(hostname -s)'s single-node Slurm"
}

if [ "${1:-start}" = stop ]; then stop; exit 0; fi
[ "${1:-start}" = start ] || fail "unknown argument ${1}; use: bash .ci/slurm.sh [start|stop]"

if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
  echo "slurm.sh: Slurm already up on $HOST ($(sinfo -h -o '%P %t %D' | head -1))"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || fail "must run as root to start Slurm (sudo bash .ci/slurm.sh)"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  { apt-get install -y slurm-wlm munge || { apt-get update && apt-get install -y slurm-wlm munge; }; } \
    >/dev/null 2>&1 || fail "apt-get install -y slurm-wlm munge failed"
fi

mkdir -p "$DIR/munge" /etc/munge /run/munge /var/lib/munge /var/log/munge || fail "cannot create $DIR or munge dirs"
chown munge:munge "$DIR/munge" /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0700 /etc/munge /var/log/munge
chmod 0755 /run/munge
touch "$DIR/started"

# munge: a key, then the daemon (as the munge user).
if [ ! -s /etc/munge/munge.key ]; then
  if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key --force >/dev/null 2>&1
  elif command -v create-munge-key >/dev/null; then create-munge-key -f >/dev/null 2>&1
  else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  fi || fail "could not create /etc/munge/munge.key"
fi
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged --pid-file="$DIR/munge/munged.pid" --log-file=/var/log/munge/munged.log \
    || fail "munged did not start; see /var/log/munge/munged.log"
  echo munged >>"$DIR/started"
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || fail "munge does not work; see /var/log/munge/munged.log"
fi

# slurm.conf: ours, or refuse to touch someone else's.
if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
  fail "$CONF exists and was not written by this script; start that Slurm instead, or move it away"
fi
STATE=/var/lib/slurm/slurmctld SPOOL=/var/lib/slurm/slurmd
mkdir -p "$STATE" "$SPOOL" /var/log/slurm || fail "cannot create $STATE, $SPOOL"
MEM_MB=$(free -m | awk '/^Mem:/ {print $2}')
MARGIN=$(( MEM_MB / 10 > 512 ? MEM_MB / 10 : 512 ))
REAL_MB=$(( MEM_MB - MARGIN ))
GRES=""
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  NGPU=$(nvidia-smi -L | grep -c '^GPU')
  GRES=" Gres=gpu:$NGPU"
  echo "AutoDetect=off
Name=gpu File=/dev/nvidia[0-$((NGPU - 1))]" >/etc/slurm/gres.conf
fi
cat >"$CONF" <<EOF
$MARK (single-node Slurm for framebench)
ClusterName=framebench
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobContainerType=job_container/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
GresTypes=gpu
ReturnToService=2
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SchedulerType=sched/backfill
InactiveLimit=0
KillWait=10
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$REAL_MB$GRES State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

if ! pid_alive "$DIR/slurmctld.pid"; then
  /usr/sbin/slurmctld || fail "slurmctld did not start; see /var/log/slurm/slurmctld.log"
  echo slurmctld >>"$DIR/started"
fi
if ! pid_alive "$DIR/slurmd.pid"; then
  /usr/sbin/slurmd || fail "slurmd did not start; see /var/log/slurm/slurmd.log"
  echo slurmd >>"$DIR/started"
fi

state=""
for _ in $(seq $(( WAIT_S * 2 ))); do
  state=$(sinfo -h -o %t 2>/dev/null | head -1)
  case "$state" in
    idle|mix|alloc) echo "slurm.sh: single-node Slurm up on $HOST: partition debug, $(nproc) CPUs, ${REAL_MB} MB${GRES:+,$GRES}, state $state"; exit 0 ;;
    drain*|down*) scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 ;;
  esac
  sleep 0.5
done
fail "node $HOST not idle after ${WAIT_S}s (sinfo says '${state:-nothing}'); see /var/log/slurm/slurmctld.log and slurmd.log"

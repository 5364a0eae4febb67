#!/usr/bin/env bash
# A throwaway single-node Slurm cluster (with accounting) for the project's tests and CI.
#
#   bash tests/slurm/cluster.sh up       install packages if missing, start every daemon, wait for an idle node
#   bash tests/slurm/cluster.sh down     stop the daemons this script started (by recorded PID); keep state
#   bash tests/slurm/cluster.sh reset    down, then delete Slurm state and the accounting DB together
#   bash tests/slurm/cluster.sh status   exit 0 when the cluster answers and the node is usable
#   bash tests/slurm/cluster.sh env      print `export SLURM_CONF=...` for a shell that wants sinfo/sbatch
#
# Everything lives under $SCALING_SLURM_DIR (default /tmp/scaling-slurm); /etc/slurm is not touched, so only a
# process with SLURM_CONF=$SCALING_SLURM_DIR/etc/slurm.conf sees this cluster (`eval "$(cluster.sh env)"`), and
# other tests that auto-detect Slurm keep running locally. Needs root (CI runs as root) and
# Debian/Ubuntu packages; no systemd is assumed: the daemons are started by hand in the order
# munged -> mariadbd -> slurmdbd -> slurmctld -> slurmd, each waited for before the next.
# Why each non-default setting is there: the comments in the slurm.conf written below; usage: docs/slurm.md.
set -euo pipefail
set +m  # background jobs must not lead a process group, or setsid forks and $! is not the daemon

DIR=${SCALING_SLURM_DIR:-/tmp/scaling-slurm}
DB_PORT=${SCALING_SLURM_DB_PORT:-3307}
# slurmctld, slurmd and slurmdbd use PORT_BASE, +1, +2 (Slurm's defaults 6817-6819).
PORT_BASE=${SCALING_SLURM_PORT_BASE:-6817}
WAIT_S=${SCALING_SLURM_WAIT_S:-60}
PACKAGES="slurm-wlm munge slurmdbd mariadb-server"
CONF=$DIR/etc/slurm.conf
DBD_CONF=$DIR/etc/slurmdbd.conf
PIDS=$DIR/pids
export SLURM_CONF=$CONF

log() { printf 'cluster.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- processes
# A killed daemon lingers as a zombie until PID 1 reaps it (1-2 s here) and `kill -0` still succeeds on it,
# so liveness reads /proc and counts a zombie as dead.
alive() {
    local pid=$1 state
    [[ -n $pid && -r /proc/$pid/status ]] || return 1
    state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || return 1
    [[ -n $state && $state != Z && $state != X ]]
}

# PID recorded for one of our daemons, only if that PID is still alive and still runs the same program
# (guards against PID reuse after a reboot of the container or a long pause).
our_pid() {
    local name=$1 pid exe
    [[ -r $PIDS/$name ]] || return 1
    pid=$(<"$PIDS/$name")
    alive "$pid" || return 1
    exe=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $exe == *"$name"* ]] || return 1
    echo "$pid"
}

# Whether a daemon we just started is still alive. No program check here, unlike our_pid: right after the
# fork, $! is still a copy of this shell that has not exec'd the daemon yet.
started_alive() { [[ -r $PIDS/$1 ]] && alive "$(<"$PIDS/$1")"; }

# start NAME LOGFILE CMD...: detached from this shell's session, so CI's trap or a closed terminal does not
# take it down with us; the PID of the program itself (each one runs in the foreground) is recorded.
start() {
    local name=$1 logfile=$2; shift 2
    # 9>&-: the lock fd must not leak into a daemon, or it holds the lock for its whole life.
    setsid nohup "$@" </dev/null >>"$logfile" 2>&1 9>&- &
    echo $! >"$PIDS/$name"
}

since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'; }

wait_for() {  # wait_for WHAT NAME CMD...: poll CMD until it succeeds; on timeout show the daemon's log
    local what=$1 name=$2; shift 2
    local deadline=$((SECONDS + WAIT_S))
    until "$@" >/dev/null 2>&1; do
        if [[ -n $name ]] && ! started_alive "$name"; then
            log "$name exited during start-up; last lines of $DIR/log/$name.log:"
            tail -n 20 "$DIR/log/$name.log" >&2 || true
            die "$what failed"
        fi
        if ((SECONDS >= deadline)); then
            [[ -n $name ]] && { tail -n 20 "$DIR/log/$name.log" >&2 || true; }
            die "timed out after ${WAIT_S}s waiting for $what"
        fi
        sleep 0.1
    done
}

stop() {  # stop NAME: TERM, wait, KILL; only a PID we recorded
    local name=$1 pid i
    if pid=$(our_pid "$name"); then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then
            log "$name ($pid) ignored SIGTERM for 10 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
        fi
        log "stopped $name ($pid)"
    fi
    rm -f "$PIDS/$name"
}

# ---------------------------------------------------------------- install
install_packages() {
    local missing=0 bin
    for bin in munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sacct; do
        command -v "$bin" >/dev/null 2>&1 || [[ -x /usr/sbin/$bin ]] || missing=1
    done
    ((missing)) || return 0
    [[ $(id -u) == 0 ]] || die "Slurm packages are missing and installing them needs root: apt-get install $PACKAGES"
    command -v apt-get >/dev/null || die "Slurm packages are missing and this is not a Debian/Ubuntu system"
    log "installing $PACKAGES"
    local t0=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $PACKAGES >&2
    log "packages installed in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- configs
host=$(hostname -s)

write_if_changed() {  # write stdin to $1 only when it differs, so a healthy cluster's files are left alone
    local dest=$1 tmp
    tmp=$(mktemp "$dest.XXXXXX")
    cat >"$tmp"
    if [[ -f $dest ]] && cmp -s "$tmp" "$dest"; then rm -f "$tmp"; else mv "$tmp" "$dest"; fi
    chmod 644 "$dest"  # mktemp makes files 600; slurmctld reads its config as user slurm
}

write_configs() {
    mkdir -p "$DIR"/{etc,run,log,state/ctld,state/d,pids,mysql}
    chmod 755 "$DIR" "$DIR"/etc
    # mariadbd must not share a directory with slurm-owned files (it failed with errno 13 when it did).
    chown slurm:slurm "$DIR"/run "$DIR"/log "$DIR"/state "$DIR"/state/ctld "$DIR"/state/d
    chown mysql:mysql "$DIR"/mysql

    # The node line comes from the hardware: `slurmd -C` prints it. RealMemory at 95% of what it reports so
    # the node is not drained for having less memory than configured. SCALING_SLURM_CPUS advertises more
    # CPUs than exist (config_overrides), for tests that want more concurrent trivial jobs than cores.
    local node cpus mem
    node=$(slurmd -C | head -n 1)
    cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node")
    mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
    mem=$((mem * 95 / 100))
    node=$(sed -e "s/RealMemory=[0-9]*/RealMemory=$mem/" -e 's/ UpTime=.*//' <<<"$node")
    if [[ -n ${SCALING_SLURM_CPUS:-} && ${SCALING_SLURM_CPUS} != "$cpus" ]]; then
        node="NodeName=$host CPUs=$SCALING_SLURM_CPUS RealMemory=$mem"
    fi
    node="$node NodeAddr=127.0.0.1"

    write_if_changed "$CONF" <<EOF
# Written by tests/slurm/cluster.sh; a throwaway single-node cluster for tests.
ClusterName=scaling
# Addresses are given as 127.0.0.1: a container's hostname is not always resolvable, and all daemons are local.
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$PORT_BASE
SlurmdPort=$((PORT_BASE + 1))
AuthType=auth/munge
CredType=cred/munge
# A requeued job waits for its old credential to expire before it may run again: the default (120 s)
# made a preempted run idle ~2 min; 10 s brings requeue-to-running to ~11-16 s.
AuthInfo=cred_expire=10
SlurmUser=slurm
SlurmdUser=root
StateSaveLocation=$DIR/state/ctld
SlurmdSpoolDir=$DIR/state/d
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# No cgroups in a container without systemd: limits are bookkeeping only.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
# Accounting is required: submitit reads job states only from sacct; without it a cancelled or killed job
# stays UNKNOWN and job.result() waits forever.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$((PORT_BASE + 2))
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default a job with no --mem takes the whole node's memory and jobs run one at a time.
DefMemPerCPU=1024
SchedulerType=sched/backfill
# batch_sched_delay=0: the default 3 s made a 20-task array take 18 s instead of 6-8 s.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=2,bf_interval=2
SlurmdParameters=config_overrides
MaxArraySize=${SCALING_SLURM_MAX_ARRAY_SIZE:-1001}
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
KillWait=5
MinJobAge=300
$node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

    # A password only this throwaway DB (bound to 127.0.0.1) knows; kept so a restart reuses it.
    [[ -s $DIR/etc/db.pass ]] || { od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$DIR/etc/db.pass"; chmod 600 "$DIR/etc/db.pass"; }
    write_if_changed "$DBD_CONF" <<EOF
# Written by tests/slurm/cluster.sh.
AuthType=auth/munge
DbdHost=$host
DbdAddr=127.0.0.1
DbdPort=$((PORT_BASE + 2))
SlurmUser=slurm
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$(<"$DIR/etc/db.pass")
StorageLoc=slurm_acct_db
EOF
    # slurmdbd refuses a config that others can read (it holds the DB password).
    chown slurm:slurm "$DBD_CONF"
    chmod 600 "$DBD_CONF"
}

# ---------------------------------------------------------------- health checks
# Each check is bounded: with a daemon missing, sacctmgr and sinfo retry for ~10-20 s before giving up.
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
db_ok() { timeout 5 mariadb --no-defaults -S "$DIR/mysql/mysqld.sock" -u root -e 'SELECT 1' >/dev/null 2>&1; }
dbd_ok() { timeout 5 sacctmgr -n list cluster >/dev/null 2>&1; }
ctld_ok() { timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_state() { timeout 5 sinfo -h -n "$host" -o %T 2>/dev/null | head -n 1; }
node_ok() { [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]]; }

healthy() {
    # Every daemon we are responsible for must be ours and alive; munged may be a system one.
    local name
    for name in mariadbd slurmdbd slurmctld slurmd; do our_pid "$name" >/dev/null || return 1; done
    munge_ok && dbd_ok && ctld_ok && node_ok
}

# ---------------------------------------------------------------- up
up_munge() {
    if munge_ok; then return 0; fi  # a system munged (or ours from before) already serves the socket
    [[ -s /etc/munge/munge.key ]] || { mungekey -c -f -k /etc/munge/munge.key 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; }
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge; chown munge:munge /run/munge; chmod 755 /run/munge
    # setpriv execs (runuser would stay as a parent), so the recorded PID is munged's own.
    start munged "$DIR/log/munged.log" setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F
    wait_for "munged" munged munge_ok
}

up_db() {
    if our_pid mariadbd >/dev/null && db_ok; then return 0; fi
    stop mariadbd
    if [[ ! -d $DIR/db/mysql ]]; then
        # A fresh DB means fresh Slurm state too: job ids would restart at 1 while old sacct rows kept theirs.
        rm -rf "$DIR/db" "$DIR/state/ctld"/* "$DIR/state/d"/*
        mkdir -p "$DIR/db"; chown mysql:mysql "$DIR/db"
        mariadb-install-db --no-defaults --user=mysql --datadir="$DIR/db" --skip-test-db \
            --auth-root-authentication-method=socket >>"$DIR/log/mariadb-install.log" 2>&1 \
            || { tail -n 20 "$DIR/log/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
    fi
    start mariadbd "$DIR/log/mariadbd.log" /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$DIR/db" \
        --socket="$DIR/mysql/mysqld.sock" --pid-file="$DIR/mysql/mariadbd.pid" --port="$DB_PORT" \
        --bind-address=127.0.0.1 --skip-name-resolve --innodb-buffer-pool-size=32M --log-error="$DIR/log/mariadbd.log"
    wait_for "mariadbd" mariadbd db_ok
    local pass; pass=$(<"$DIR/etc/db.pass")
    # slurmdbd connects over TCP to 127.0.0.1 (skip-name-resolve: the host part is the address).
    mariadb --no-defaults -S "$DIR/mysql/mysqld.sock" -u root -e "
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
        ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || die "cannot create the slurm DB user"
}

up_dbd() {
    if our_pid slurmdbd >/dev/null && dbd_ok; then return 0; fi
    stop slurmdbd
    start slurmdbd "$DIR/log/slurmdbd.log" /usr/sbin/slurmdbd -D
    wait_for "slurmdbd (sacctmgr list cluster)" slurmdbd dbd_ok
}

up_ctld() {
    if our_pid slurmctld >/dev/null && ctld_ok; then return 0; fi
    stop slurmctld
    start slurmctld "$DIR/log/slurmctld.log" /usr/sbin/slurmctld -D -f "$CONF"
    wait_for "slurmctld (scontrol ping)" slurmctld ctld_ok
}

up_slurmd() {
    if ! our_pid slurmd >/dev/null; then
        stop slurmd
        start slurmd "$DIR/log/slurmd.log" /usr/sbin/slurmd -D -f "$CONF"
    fi
    local deadline=$((SECONDS + WAIT_S)) state
    until node_ok; do
        state=$(node_state)
        # A node left down/drained by an earlier run (e.g. killed slurmd) does not come back by itself.
        if [[ $state =~ ^(down|drained|draining|fail) ]]; then
            scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
        fi
        started_alive slurmd || { tail -n 20 "$DIR/log/slurmd.log" >&2; die "slurmd exited during start-up"; }
        ((SECONDS < deadline)) || { tail -n 20 "$DIR/log/slurmd.log" >&2; die "node $host is '$state', not idle, after ${WAIT_S}s"; }
        sleep 0.1
    done
}

cmd_up() {
    install_packages
    mkdir -p "$DIR"
    exec 9>"$DIR/lock"
    flock 9  # two `up`s at once would each start a set of daemons
    if [[ -d $DIR/pids ]] && healthy; then log "already up ($DIR)"; return 0; fi
    local t0; t0=$(date +%s.%N)
    write_configs
    local stage times=""
    for stage in munge db dbd ctld slurmd; do  # per-stage times in the log line: CI logs show what was slow
        local s0; s0=$(date +%s.%N)
        "up_$stage"
        times+=" $stage $(since "$s0")"
    done
    log "up in $(since "$t0") s ($times s): node $host $(node_state); SLURM_CONF=$CONF"
}

# ---------------------------------------------------------------- down / reset / status
cmd_down() {
    [[ -d $DIR ]] || { log "nothing to stop ($DIR does not exist)"; return 0; }
    exec 9>"$DIR/lock"
    flock 9
    # Jobs of this throwaway cluster are ours too: cancel them so no slurmstepd outlives the cluster.
    if our_pid slurmctld >/dev/null && ctld_ok; then
        local jobs; jobs=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')
        if [[ -n ${jobs// /} ]]; then
            # shellcheck disable=SC2086
            scancel $jobs 2>/dev/null || true
            local i; for ((i = 0; i < 100; i++)); do [[ -z $(squeue -h -o %A 2>/dev/null) ]] && break; sleep 0.1; done
        fi
    fi
    local name
    for name in slurmd slurmctld slurmdbd mariadbd munged; do stop "$name"; done
}

cmd_reset() {
    cmd_down
    # Slurm state and the accounting DB go together: keeping one without the other makes job ids restart
    # at 1 while sacct still holds old rows with the same ids.
    rm -rf "$DIR"
    log "removed $DIR"
}

cmd_status() {
    local name pid rc=0
    for name in munged mariadbd slurmdbd slurmctld slurmd; do
        if pid=$(our_pid "$name"); then echo "$name: running ($pid)"; else echo "$name: not started by us"; fi
    done
    # Without munge nothing else can answer, and each unanswered check costs its timeout: stop at the first.
    munge_ok && echo "munge: ok" || { echo "munge: no answer"; return 1; }
    dbd_ok && echo "slurmdbd: answers" || { echo "slurmdbd: no answer"; rc=1; }
    ctld_ok && echo "slurmctld: UP" || { echo "slurmctld: no answer"; return 1; }
    echo "node $host: $(node_state || true)"
    node_ok || rc=1
    return $rc
}

case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    reset) cmd_reset ;;
    status) cmd_status ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: $0 up|down|reset|status|env" >&2; exit 2 ;;
esac

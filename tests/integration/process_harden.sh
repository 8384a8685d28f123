#!/bin/bash
# process_harden.sh - mxtlsd started as root with -u nobody (issue 17, items
# 11 and 12), on scenarios/daemon.scn (slot 32 unless TESTBED_SLOT says
# otherwise), mxtlsd on 127.0.0.1:19701:
#
#  11  a symlink planted at the pidfile or the log path, in a directory the
#      unprivileged user can write, is not followed: mxtlsd refuses such a
#      directory and the root-owned file the symlink points at is unchanged;
#      a symlink at the path in root's own directory is not followed either;
#      the pidfile is removed at exit although its directory is root's and
#      the daemon runs as nobody; a stale pidfile (a PID that is not running)
#      is replaced; the process has NoNewPrivs set after the drop;
#  12  SIGHUP sent again and again while the cache loads does not kill the
#      daemon (it answers, and then stops with status 0), and the pidfile
#      appears only when the daemon answers (not while it loads).
#
# usage: process_harden.sh MXTLSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: process_harden.sh MXTLSD}
export TESTBED_SLOT=${TESTBED_SLOT:-32}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/mxtlsd_lib.sh"
MX_PORT=$(free_port $((18500 + 10 * TESTBED_SLOT)))
SECURE="secure match=mx.enforce.sts.test servername=hostname"

if [ ! -x "$MXTLSD" ]; then echo "not ok - mxtlsd binary $MXTLSD is not built"; exit 1; fi
if ! id nobody >/dev/null 2>&1; then echo "1..0 # SKIP no user nobody"; exit 77; fi
mx_setup "$here/scenarios/daemon.scn"
chmod 755 "$MX_TMP"
state=$MX_TMP/state # the cache directory, nobody's
mkdir -p "$state"
chown nobody "$state"
cfg=$MX_TMP/mxtlsd.yml
mx_config "$cfg" "$MX_PORT" "$state/cache.db"

# run LABEL PIDFILE LOGFILE: start mxtlsd as root with -u nobody in the
# background; sets RUN_PID (recorded)
run() {
    "$MXTLSD" -c "$cfg" -v debug -l "$3" -p "$2" -u nobody </dev/null \
        >>"$MX_TMP/$1.out.log" 2>&1 &
    RUN_PID=$!
    MX_PIDS+=("$RUN_PID")
}

# gone PID SECONDS: the process exited within SECONDS; its status in GONE_RC
gone() {
    local i
    GONE_RC=
    for ((i = 0; i < $2 * 10; i++)); do
        if ! alive "$1"; then
            GONE_RC=0
            wait "$1" 2>/dev/null || GONE_RC=$?
            return 0
        fi
        sleep 0.1
    done
    return 1
}

secret() { printf 'root secret %s\n' "$1" >"$MX_TMP/$1"; chmod 600 "$MX_TMP/$1"; }

# ---------------------------------------------------------------- item 11: planted symlinks
pub=$MX_TMP/pub # a directory nobody can write (as /tmp or a badly set up /run would be)
mkdir -p "$pub"
chown nobody "$pub"
secret pidsecret
secret logsecret
runuser -u nobody -- ln -s "$MX_TMP/pidsecret" "$pub/mxtlsd.pid"
runuser -u nobody -- ln -s "$MX_TMP/logsecret" "$pub/mxtlsd.log"

run sym-pid "$pub/mxtlsd.pid" "$MX_TMP/sym-pid.log"
if gone "$RUN_PID" 8; then
    ok "pidfile in nobody's directory: mxtlsd refused to start (status $GONE_RC)"
else
    not_ok "pidfile in nobody's directory: mxtlsd refused to start"
    stop_pid "$RUN_PID" || true
fi
check "the root-owned file behind the pidfile symlink is unchanged" \
    "$(cat "$MX_TMP/pidsecret")" "root secret pidsecret"
has "the refusal says why" "$(cat "$MX_TMP/sym-pid.log" "$MX_TMP/sym-pid.out.log" 2>/dev/null)" \
    "pidfile .*(refusing|owned by another user|writable)"

run sym-log "$MX_TMP/sym-log.pid" "$pub/mxtlsd.log"
if gone "$RUN_PID" 8; then
    ok "log in nobody's directory: mxtlsd refused to start (status $GONE_RC)"
else
    not_ok "log in nobody's directory: mxtlsd refused to start"
    stop_pid "$RUN_PID" || true
fi
check "the root-owned file behind the log symlink is unchanged" \
    "$(cat "$MX_TMP/logsecret")" "root secret logsecret"

# a symlink at the path in root's own directory is not followed either
rdir=$MX_TMP/run
mkdir -p "$rdir"
chmod 755 "$rdir"
ln -s "$MX_TMP/logsecret" "$rdir/link.log"
run root-link "$rdir/mxtlsd.pid" "$rdir/link.log"
if gone "$RUN_PID" 8; then
    ok "log path a symlink in root's directory: refused (status $GONE_RC)"
else
    not_ok "log path a symlink in root's directory: refused"
    stop_pid "$RUN_PID" || true
fi
check "the file behind it is unchanged" "$(cat "$MX_TMP/logsecret")" "root secret logsecret"
rm -f "$rdir/link.log"

# ---------------------------------------------------------------- item 11: the pidfile's life
sleep 0 &
dead=$!
wait "$dead" || true
echo "$dead" >"$rdir/mxtlsd.pid" # stale: that process is gone
run good "$rdir/mxtlsd.pid" "$rdir/mxtlsd.log"
pid=$RUN_PID
if wait_answer good "$pid" "$MX_PORT" "$rdir/mxtlsd.pid"; then
    ok "a stale pidfile is replaced: the pidfile holds the daemon's PID $pid"
    got=$(q postfix enforce.sts.test)
    expect_reply "as nobody: answered" "$got" "$SECURE"
    check "as nobody: NoNewPrivs is set after the drop" \
        "$(awk '/^NoNewPrivs:/ { print $2 }' "/proc/$pid/status")" 1
    check "the pidfile in root's directory belongs to root" "$(stat -c %U "$rdir/mxtlsd.pid")" root
    rc=0; stop_pid "$pid" || rc=$?
    expect "SIGTERM: status 0" test "$rc" -eq 0
    expect "the pidfile is removed at exit, though its directory is root's" \
        test ! -e "$rdir/mxtlsd.pid"
    hasnt "the log was not refused" "$(cat "$rdir/mxtlsd.log")" "refusing"
else
    not_ok "mxtlsd -u nobody with its pidfile in root's directory answers"
fi

# ---------------------------------------------------------------- item 12: SIGHUP during the load
# a cache big enough that loading it takes a moment
mx_config "$cfg" "$MX_PORT" "$state/big.db"
python3 - "$state/big.db" <<'PY'
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1])
c.execute("pragma journal_mode=wal")
c.execute("create table sts_policy(domain text primary key not null, id text not null,"
          " fetched_at integer not null, checked_at integer not null,"
          " failed_at integer not null, policy text not null)")
c.execute("pragma user_version=1")
now = int(time.time())
pol = "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 604800\n"
c.executemany("insert into sts_policy values (?,?,?,?,?,?)",
              (("d%06d.load.test" % i, "id1", now, now, 0, pol) for i in range(300000)))
c.commit()
c.close()
PY
chown nobody "$state"/big.db*
rm -f "$rdir/mxtlsd.pid"
run hup "$rdir/mxtlsd.pid" "$MX_TMP/hup.log"
pid=$RUN_PID
# wait until it is bound (the load starts right after), then SIGHUP every 20 ms
for ((i = 0; i < 200; i++)); do port_busy "$MX_PORT" && break; alive "$pid" || break; sleep 0.01; done
early=no
[ -e "$rdir/mxtlsd.pid" ] && early=yes
sent=0
for ((i = 0; i < 1500; i++)); do
    grep -q "policies loaded" "$MX_TMP/hup.log" 2>/dev/null && break # the load is over
    alive "$pid" || break
    kill -HUP "$pid" 2>/dev/null || true
    sent=$((sent + 1))
    sleep 0.02
done
echo "# $sent SIGHUPs sent while the cache loaded; pidfile there when bound: $early"
check "the pidfile is not there while the cache loads (it appears when the daemon answers)" \
    "$early" no
if alive "$pid"; then
    ok "SIGHUP during the cache load: the daemon is alive"
    got=$(q postfix enforce.sts.test)
    expect_reply "after the SIGHUPs: answered" "$got" "$SECURE"
    has "it loaded the 300000 policies" "$(cat "$MX_TMP/hup.log")" "300000 policies loaded"
    rc=0; stop_pid "$pid" || rc=$?
    expect "then SIGTERM: status 0" test "$rc" -eq 0
else
    rc=0; wait "$pid" 2>/dev/null || rc=$?
    not_ok "SIGHUP during the cache load: the daemon is alive (it exited with status $rc)"
fi
expect "no pidfile left behind" test ! -e "$rdir/mxtlsd.pid"

done_testing

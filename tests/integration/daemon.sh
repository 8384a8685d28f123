#!/bin/bash
# daemon.sh - mxtlsd as a server (issue 4, "The daemon"), on the testbed's
# scenarios/daemon.scn (slot 10 unless TESTBED_SLOT says otherwise), mxtlsd
# on 127.0.0.1:18601:
#
#   - --version: the project's version;
#   - --check-config: 0 for a good file; 78 and "FILE:LINE: KEY: ..." for an
#     unknown key and for a bad value;
#   - several requests written at once (pipelining) are answered in order;
#   - a netstring longer than the request cap, and a malformed one, get PERM
#     and the connection is closed (nothing else on it is read);
#   - 200 idle connections and 100 with a half-sent request cost the others
#     nothing: postmap is still answered, and they are not closed early
#     (the idle timeout itself is 300 s: not waited for here);
#   - SIGTERM with a request in flight (a lookup in a black-holed zone): no
#     new connection is accepted, the in-flight request still gets its
#     answer, then the daemon exits 0 (shutdown_timeout);
#   - SIGHUP reopens the log file (rotated by rename);
#   - as root, -u nobody -g nogroup: the daemon runs as nobody after binding
#     and still answers, its cache written as nobody.
#
# usage: daemon.sh MXTLSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: daemon.sh MXTLSD}
export TESTBED_SLOT=${TESTBED_SLOT:-10}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/mxtlsd_lib.sh"
MX_PORT=$((18501 + 10 * TESTBED_SLOT))
SECURE="secure match=mx.enforce.sts.test servername=hostname"

# sm PORT SCRIPT: run a python3 socketmap client; SCRIPT sees `port`,
# `conn()` (a connected socket, 10 s timeout), `ns(text)` (netstring
# bytes), `replies(sock, n)` (n replies decoded, or fewer and "EOF"/"TIMEOUT")
sm() {
    local port=$1 script=$2
    python3 - "$port" <<PY
import socket, sys, time
port = int(sys.argv[1])
def conn(timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s
def ns(text):
    b = text.encode()
    return str(len(b)).encode() + b":" + b + b","
def send(s, data):
    try:
        s.sendall(data)
    except OSError:
        pass  # the daemon may close first: what it answered is what counts
def replies(s, n):
    buf, out = b"", []
    while len(out) < n:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            out.append("TIMEOUT"); break
        except ConnectionResetError:
            out.append("EOF"); break
        if not chunk:
            out.append("EOF"); break
        buf += chunk
        while b":" in buf:
            head, rest = buf.split(b":", 1)
            ln = int(head)
            if len(rest) < ln + 1: break
            out.append(rest[:ln].decode()); buf = rest[ln + 1:]
    return out
$script
PY
}

if [ ! -x "$MXTLSD" ]; then echo "not ok - mxtlsd binary $MXTLSD is not built"; exit 1; fi
mx_setup "$here/scenarios/daemon.scn"
cfg=$MX_TMP/mxtlsd.yml
mx_config "$cfg" "$MX_PORT" "$MX_TMP/cache.db" "  fast:" "    timeout: 3"
sed -i 's/^shutdown_timeout: 2$/shutdown_timeout: 10/' "$cfg"

# ---------------------------------------------------------------- --check-config
rc=0; cc_out=$("$MXTLSD" -c "$cfg" --check-config 2>&1) || rc=$?
expect "--check-config: a good file exits 0" test "$rc" -eq 0
printf '%s\nbogus_key: 1\n' "$(cat "$cfg")" >"$MX_TMP/bad-key.yml"
line=$(grep -c '' "$MX_TMP/bad-key.yml")
rc=0; cc_out=$("$MXTLSD" -c "$MX_TMP/bad-key.yml" --check-config 2>&1) || rc=$?
expect "--check-config: an unknown key exits 78" test "$rc" -eq 78
has "--check-config: the error names the file, line $line and the key" \
    "$cc_out" "^mxtlsd: $MX_TMP/bad-key.yml:$line: bogus_key: unknown key"
sed 's/^port: .*/port: 99999/' "$cfg" >"$MX_TMP/bad-port.yml"
line=$(grep -n '^port:' "$MX_TMP/bad-port.yml" | cut -d: -f1)
rc=0; cc_out=$("$MXTLSD" -c "$MX_TMP/bad-port.yml" --check-config 2>&1) || rc=$?
expect "--check-config: port 99999 exits 78" test "$rc" -eq 78
has "--check-config: the error names line $line and the key port" \
    "$cc_out" "bad-port.yml:$line: port: 99999 is out of range"

has "--version names the project version meson passed" "$("$MXTLSD" --version)" \
    '^mxtlsd [0-9]+\.[0-9]+\.[0-9]+$'

mx_start mxtlsd "$cfg"
pid=$MX_LAST_PID

# ---------------------------------------------------------------- framing
got=$(sm "$MX_PORT" '
s = conn()
s.sendall(ns("postfix enforce.sts.test") + ns("postfix [127.0.0.1]") + ns("postfix enforce.sts.test:587"))
print("|".join(replies(s, 3)))')
expect_reply "pipelining: three requests in one write, three replies in order" \
    "$got" "OK $SECURE|NOTFOUND |OK $SECURE"

got=$(sm "$MX_PORT" '
s = conn()
send(s, b"5000:" + b"x" * 5000 + b"," + ns("postfix enforce.sts.test"))
r = replies(s, 2)
print("|".join(r))')
check "over the cap: PERM, then the connection is closed (the next request is not read)" \
    "$got" 'PERM request too long|EOF'

got=$(sm "$MX_PORT" '
s = conn()
send(s, b"abc," + ns("postfix enforce.sts.test"))
print("|".join(replies(s, 2)))')
check "malformed netstring: PERM, then the connection is closed" \
    "$got" 'PERM malformed netstring|EOF'

# ---------------------------------------------------------------- idle connections
got=$(sm "$MX_PORT" '
import subprocess
idle = [conn() for _ in range(200)]
half = [conn() for _ in range(100)]
for s in half:
    s.sendall(b"40:postfix enforce.st")
time.sleep(0.5)
r = subprocess.run(["postmap", "-c", "'"$MX_PFDIR"'", "-q", "enforce.sts.test",
                    "socketmap:inet:127.0.0.1:%d:postfix" % port], capture_output=True, text=True, timeout=30)
print("postmap=" + r.stdout.strip())
open_ = 0
for s in idle + half:
    s.settimeout(0.01)
    try:
        open_ += s.recv(1) == b"" and 0 or 0
    except socket.timeout:
        open_ += 1
print("open=%d" % open_)
for s in idle + half:
    s.close()')
expect_reply "300 idle and half-sent connections: postmap still answered" \
    "$(sed -n 's/^postmap=//p' <<<"$got")" "$SECURE"
expect "the 300 idle and half-sent connections are still open (no early close)" \
    test "$(sed -n 's/^open=//p' <<<"$got")" = 300

# ---------------------------------------------------------------- SIGHUP
mv "$MX_TMP/mxtlsd.log" "$MX_TMP/mxtlsd.log.1"
kill -HUP "$pid"
for ((i = 0; i < 50; i++)); do [ -s "$MX_TMP/mxtlsd.log" ] && break; sleep 0.1; done
got=$(q postfix enforce.sts.test)
expect_reply "after SIGHUP: still answering" "$got" "$SECURE"
expect "SIGHUP: the log file is reopened (a new file, written to)" test -s "$MX_TMP/mxtlsd.log"
expect "SIGHUP: the daemon is still the same process" alive "$pid"

# ---------------------------------------------------------------- SIGTERM drain
got=$(sm "$MX_PORT" '
import os, signal
s = conn(timeout=30)
t0 = time.monotonic()
s.sendall(ns("fast d.hole.test"))
time.sleep(0.5)
os.kill('"$pid"', signal.SIGTERM)
time.sleep(0.3)
try:
    c = socket.create_connection(("127.0.0.1", port), timeout=2)
    c.sendall(ns("postfix enforce.sts.test"))
    late = "|".join(replies(c, 1))
except OSError as e:
    late = "refused"
r = replies(s, 2)
print("late=" + late)
print("inflight=" + r[0].split(" ")[0])
print("after=" + (r[1] if len(r) > 1 else ""))
print("# in-flight answer after %.1f s: %s" % (time.monotonic() - t0, r[0]))')
printf '%s\n' "$got" | grep '^#' || true
has "SIGTERM: a new connection is refused or closed unanswered while draining" \
    "$got" '^late=(refused|EOF)$'
has "SIGTERM: the request in flight still gets its answer (TEMP: the zone times out)" \
    "$got" '^inflight=TEMP$'
has "SIGTERM: then the connection is closed" "$got" '^after=EOF$'
rc=0; stop_pid "$pid" || rc=$?
expect "SIGTERM: the daemon exited with status 0" test "$rc" -eq 0

# ---------------------------------------------------------------- privileges
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1 && getent group nogroup >/dev/null; then
    pdir=$MX_TMP/nobody
    mkdir -p "$pdir"
    chown nobody:nogroup "$pdir"
    chmod 755 "$MX_TMP"
    pcfg=$MX_TMP/mxtlsd-nobody.yml
    mx_config "$pcfg" "$MX_PORT" "$pdir/cache.db"
    rm -f "$MX_TMP/nobody.pid"
    "$MXTLSD" -c "$pcfg" -v debug -l "$MX_TMP/mxtlsd-nobody.log" -p "$MX_TMP/nobody.pid" \
        -u nobody -g nogroup </dev/null >>"$MX_TMP/mxtlsd-nobody.out.log" 2>&1 &
    npid=$!
    MX_PIDS+=("$npid")
    if wait_answer mxtlsd-nobody "$npid" "$MX_PORT" "$MX_TMP/nobody.pid"; then
        ok "mxtlsd -u nobody -g nogroup (pid $npid) answers on 127.0.0.1:$MX_PORT"
        uid=$(awk '/^Uid:/ { print $2 "," $3 "," $4 "," $5 }' "/proc/$npid/status")
        gid=$(awk '/^Gid:/ { print $2 "," $3 "," $4 "," $5 }' "/proc/$npid/status")
        nuid=$(id -u nobody)
        ngid=$(getent group nogroup | cut -d: -f3)
        expect "-u nobody: every uid of the process is nobody's ($uid)" \
            test "$uid" = "$nuid,$nuid,$nuid,$nuid"
        expect "-g nogroup: every gid of the process is nogroup's ($gid)" \
            test "$gid" = "$ngid,$ngid,$ngid,$ngid"
        groups=$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$npid/status" | tr -s ' ' '\n' | sort -u |
            grep -vx -e '' -e "$ngid" | tr '\n' ' ' || true)
        check "-u nobody: no supplementary group of root's left (only nogroup, or none)" "$groups" ""
        got=$(q postfix enforce.sts.test)
        expect_reply "-u nobody: a policy is fetched and answered" "$got" "$SECURE"
        expect "-u nobody: the cache file belongs to nobody" \
            test "$(stat -c %U "$pdir/cache.db" 2>/dev/null)" = nobody
        rc=0; stop_pid "$npid" || rc=$?
        expect "-u nobody: SIGTERM, exit status 0" test "$rc" -eq 0
    fi
else
    ok "# SKIP privilege drop: not root, or no nobody/nogroup"
fi

done_testing

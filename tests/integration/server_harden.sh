#!/bin/bash
# server_harden.sh - mxtlsd under connection abuse (issue 17, items 3-5), on
# the testbed's scenarios/daemon.scn (slot 28 unless TESTBED_SLOT says
# otherwise), mxtlsd on a free port of 127.0.0.1 (free_port, from 18780):
#
#   a. descriptors: started with `ulimit -n 64` (hard and soft), mxtlsd warns
#      that max_connections does not fit and accepts at most what it said;
#      with 150 clients held open it does not spin (its CPU time over 10 s
#      stays under 1 s; before the fix: a busy accept loop) and logs at most
#      a handful of accept lines (before: millions); once the clients close,
#      postmap is answered. The same with the limit lowered under a running
#      daemon (prlimit), so that accept() itself fails with EMFILE.
#      max_connections 20: 20 of 40 clients are answered, the others wait in
#      the listen queue and are answered as soon as sessions end;
#   b. slowloris: a request sent one octet a second is closed at
#      request_timeout (2 s here) after its first octet (before: the idle
#      timer restarted with every octet, it stayed open); an idle connection
#      and a request completed within the deadline are not closed;
#   c. a client pipelining explain requests (big replies) and never reading:
#      mxtlsd's VmRSS grows by less than 20 MB (before: hundreds of MB), and
#      postmap is still answered meanwhile.
#
# Only CPU time and memory are measured, never wall-clock speed.
#
# usage: server_harden.sh MXTLSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: server_harden.sh MXTLSD}
export TESTBED_SLOT=${TESTBED_SLOT:-28}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/mxtlsd_lib.sh"
MX_PORT=$(free_port $((18500 + 10 * TESTBED_SLOT))) # one daemon at a time uses it
SECURE="secure match=mx.enforce.sts.test servername=hostname"
CPU_TICKS_MAX=100 # clock ticks (1/100 s) of CPU time allowed over the 10 s hold
RSS_GROWTH_MAX_KB=$((20 * 1024))

if [ ! -x "$MXTLSD" ]; then echo "not ok - mxtlsd binary $MXTLSD is not built"; exit 1; fi
command -v prlimit >/dev/null || { echo "not ok - prlimit (util-linux) is installed"; exit 1; }
mx_setup "$here/scenarios/daemon.scn"

# sm PORT SCRIPT: a python3 socketmap client; SCRIPT sees `port`, `conn()`,
# `ns(text)`, `replies(sock, n, timeout)` (n replies decoded, fewer and
# "EOF"/"TIMEOUT" when the connection ends or stays silent), `readable(s, t)`,
# `wait_file(path)` and the environment
sm() {
    local port=$1 script=$2
    python3 - "$port" <<PY
import os, select, socket, sys, time
port = int(sys.argv[1])
def conn(timeout=10):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)
def ns(text):
    b = text.encode()
    return str(len(b)).encode() + b":" + b + b","
def replies(s, n, timeout=10):
    buf, out = b"", []
    s.settimeout(timeout)
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
def readable(s, t):
    return bool(select.select([s], [], [], t)[0])
def wait_file(path, limit=60):
    end = time.monotonic() + limit
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.05)
$script
PY
}

# cpu_ticks PID: utime + stime of the process, in clock ticks
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# rss_kb PID: VmRSS in kB
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# accept_lines LOG: lines about accept() in the log
accept_lines() { grep -ci 'accept' "$1" || true; }
# nfds PID: descriptors the process holds
nfds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }

# hold_clients LABEL PID N SECONDS: N clients connect and each sends one
# request, held open while PID's CPU time is measured over SECONDS; then
# they close. Prints "answered=K" (clients that got their reply) and
# "ticks=T"; the clients' own output goes to $MX_TMP/LABEL.hold.
hold_clients() {
    local label=$1 pid=$2 n=$3 secs=$4 go ready t0 t1
    go=$MX_TMP/$label.go
    ready=$MX_TMP/$label.ready
    rm -f "$go" "$ready"
    sm "$MX_PORT" '
socks = []
for i in range('"$n"'):
    try:
        s = conn()
        s.sendall(ns("postfix enforce.sts.test"))
        socks.append(s)
    except OSError as e:
        print("# connect %d: %s" % (i, e))
open("'"$ready"'", "w").close()
wait_file("'"$go"'")
answered = 0
for s in socks:
    if readable(s, 0):
        try:
            answered += 1 if s.recv(4096) else 0
        except OSError:
            pass
print("answered=%d" % answered)
for s in socks:
    s.close()' >"$MX_TMP/$label.hold" 2>&1 &
    local cpid=$!
    wait_file_sh "$ready" || true
    sleep 1
    t0=$(cpu_ticks "$pid")
    sleep "$secs"
    t1=$(cpu_ticks "$pid")
    touch "$go"
    wait "$cpid" || true
    grep '^#' "$MX_TMP/$label.hold" | head -n 3 || true
    sed -n 's/^answered=/answered=/p' "$MX_TMP/$label.hold"
    echo "ticks=$((t1 - t0))"
}
wait_file_sh() {
    local i
    for ((i = 0; i < 600; i++)); do [ -e "$1" ] && return 0; sleep 0.1; done
    return 1
}
val() { sed -n "s/^$1=//p" <<<"$2" | head -n 1; }
# conns_gone: wait (up to 10 s) until no connection to MX_PORT is established
conns_gone() {
    local i
    for ((i = 0; i < 100; i++)); do
        awk -v p="$(printf ':%04X' "$MX_PORT")" '$2 ~ p "$" && $4 == "01" { n++ }
            END { exit n > 0 }' /proc/net/tcp && return 0
        sleep 0.1
    done
}

# Does this binary know the issue-17 keys? A binary from before them refuses
# the file; it is then run with its defaults, to show what the test measures.
mx_config "$MX_TMP/probe.yml" "$MX_PORT" "$MX_TMP/probe.db" "max_connections: 20" \
    "request_timeout: 2"
new_keys=()
if "$MXTLSD" -c "$MX_TMP/probe.yml" --check-config >/dev/null 2>&1; then
    new_keys=("max_connections: 20" "request_timeout: 2")
else
    echo "# $MXTLSD refuses max_connections/request_timeout: running it with its defaults"
fi

# ------------------------------------------------- a. ulimit -n 64 at start
mx_config "$MX_TMP/lim.yml" "$MX_PORT" "$MX_TMP/lim.db"
MX_ENV=(prlimit --nofile=64:64 --) # `ulimit -n 64` (soft and hard) for mxtlsd alone
mx_start lim "$MX_TMP/lim.yml"
MX_ENV=()
pid=$MX_LAST_PID
expect_reply "ulimit -n 64: answered" "$(q postfix enforce.sts.test)" "$SECURE"
cap=$(sed -n 's/.*descriptor limit 64 is below max_connections.*accepting at most \([0-9]*\) connections.*/\1/p' \
    "$MX_TMP/lim.log" | head -n 1)
expect "ulimit -n 64: a warning says max_connections does not fit and what is accepted (${cap:-none})" \
    test -n "$cap"
out=$(hold_clients lim "$pid" 150 10)
ticks=$(val ticks "$out")
answered=$(val answered "$out")
echo "# ulimit -n 64, 150 clients held: CPU $ticks ticks in 10 s, $answered answered," \
    "$(accept_lines "$MX_TMP/lim.log") accept lines in the log"
expect "ulimit -n 64, 150 clients held open: CPU time over 10 s is $ticks ticks (<= $CPU_TICKS_MAX)" \
    test "$ticks" -le "$CPU_TICKS_MAX"
expect "ulimit -n 64: at most a handful of accept lines in the log ($(accept_lines "$MX_TMP/lim.log"))" \
    test "$(accept_lines "$MX_TMP/lim.log")" -le 5
expect "ulimit -n 64: at most the announced ${cap:-?} clients were served at once ($answered)" \
    test -n "$cap" -a "${answered:-999}" -le "${cap:-0}"
expect_reply "ulimit -n 64: after the clients close, postmap is answered" \
    "$(q postfix enforce.sts.test)" "$SECURE"
stop_pid "$pid" || true

# ------------------------------------------------- main daemon for the rest
mx_config "$MX_TMP/main.yml" "$MX_PORT" "$MX_TMP/main.db" "${new_keys[@]}"
# Under ASan (CI), freed memory waits in a quarantine of 256 MB, which VmRSS
# would count as growth: keep it small (no effect on an ordinary build).
MX_ENV=("ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1")
mx_start main "$MX_TMP/main.yml"
MX_ENV=()
pid=$MX_LAST_PID
log=$MX_TMP/main.log
expect_reply "main: answered" "$(q postfix enforce.sts.test)" "$SECURE"

# ------------------------------------------------- a. max_connections 20
conns_gone # postmap's session has ended: the 20 below are all the clients
got=$(sm "$MX_PORT" '
socks = [conn() for _ in range(40)]
for s in socks:
    s.sendall(ns("postfix enforce.sts.test"))
time.sleep(2)
served = [s for s in socks if readable(s, 0)]
waiting = [s for s in socks if s not in served]
print("first=%d" % len(served))
for s in served[:5]:
    s.close()
time.sleep(1.5)
print("then=%d" % sum(1 for s in waiting if readable(s, 0)))
for s in socks:
    s.close()')
check "max_connections 20: 20 of 40 clients are served at once" "$(val first "$got")" 20
check "max_connections 20: 5 sessions end, 5 waiting clients are served" "$(val then "$got")" 5
expect "max_connections 20: the limit is logged once (not per connection)" \
    test "$(grep -c 'max_connections 20): not accepting' "$log" || true)" -eq 1

# ------------------------------------------------- a. EMFILE under a running daemon
sleep 2.5 # the episode above has ended
n=$(nfds "$pid")
prlimit --pid "$pid" --nofile=$((n + 5)):
before_lines=$(accept_lines "$log")
out=$(hold_clients emfile "$pid" 80 5)
ticks=$(val ticks "$out")
lines=$(($(accept_lines "$log") - before_lines))
echo "# descriptor limit lowered to $((n + 5)) under a running daemon, 80 clients held:" \
    "CPU $ticks ticks in 5 s, $lines accept lines"
expect "EMFILE: CPU time over 5 s with 80 clients held is $ticks ticks (<= $((CPU_TICKS_MAX / 2)))" \
    test "$ticks" -le $((CPU_TICKS_MAX / 2))
expect "EMFILE: at most a handful of accept lines in the log ($lines)" test "$lines" -le 5
prlimit --pid "$pid" --nofile="$(prlimit --pid "$pid" --nofile -o HARD --noheadings)":
expect_reply "EMFILE: after the clients close, postmap is answered" \
    "$(q postfix enforce.sts.test)" "$SECURE"

# ------------------------------------------------- b. slowloris
got=$(sm "$MX_PORT" '
idle = conn()
slow = conn()
t0 = time.monotonic()
closed = None
frame = b"200:postfix " + b"a" * 190
for i in range(8):
    try:
        slow.sendall(frame[i:i + 1])
    except OSError:
        closed = time.monotonic() - t0; break
    if readable(slow, 1.0):
        try:
            data = slow.recv(100)
        except OSError:
            data = b""
        if not data:
            closed = time.monotonic() - t0; break
print("slow=" + ("open" if closed is None else "%.1f" % closed))
print("idle=" + ("EOF" if readable(idle, 0) else "open"))
# a request in two halves within the deadline, then an idle gap longer than
# the deadline, then a whole request: both answered
s = conn()
req = ns("postfix enforce.sts.test")
s.sendall(req[:10]); time.sleep(1); s.sendall(req[10:])
a = replies(s, 1)
time.sleep(3)
s.sendall(req)
b = replies(s, 1)
print("split=" + "|".join(a + b))')
slow=$(val slow "$got")
echo "# slowloris (one octet a second): closed after ${slow} s"
expect "slowloris: closed at request_timeout (2 s) after its first octet (got: $slow)" \
    awk -v t="$slow" 'BEGIN { exit !(t != "open" && t >= 1.5 && t <= 6) }'
check "slowloris: an idle connection meanwhile stays open (idle limit 300 s)" "$(val idle "$got")" open
check "a request split within the deadline, then another after an idle gap: both answered" \
    "$(val split "$got")" "OK $SECURE|OK $SECURE"
expect "slowloris: one line in the log says why" \
    test "$(grep -c 'request was not complete' "$log" || true)" -eq 1

# ------------------------------------------------- c. unread replies
explain_len=$(sm "$MX_PORT" '
s = conn()
s.sendall(ns("mxtls-explain postfix enforce.sts.test"))
print(len(replies(s, 1)[0]))')
rss0=$(rss_kb "$pid")
go=$MX_TMP/hog.go
sm "$MX_PORT" '
s = conn()
s.setblocking(False)
chunk = ns("mxtls-explain postfix enforce.sts.test") * 2000
sent, end = 0, time.monotonic() + 5
while sent < 8 * 1024 * 1024 and time.monotonic() < end:
    if select.select([], [s], [], 0.2)[1]:
        try:
            sent += s.send(chunk)
        except BlockingIOError:
            pass
print("sent=%d" % sent)
sys.stdout.flush()
wait_file("'"$go"'")
s.close()' >"$MX_TMP/hog.out" 2>&1 &
hog=$!
for ((i = 0; i < 200; i++)); do grep -q '^sent=' "$MX_TMP/hog.out" && break; sleep 0.1; done
sleep 2 # what was read is answered (or not) by now
rss1=$(rss_kb "$pid")
got=$(q postfix enforce.sts.test)
rss2=$(rss_kb "$pid")
touch "$go"
wait "$hog" || true
[ "$rss2" -gt "$rss1" ] && rss1=$rss2
sent=$(sed -n 's/^sent=//p' "$MX_TMP/hog.out")
echo "# unread replies: $sent octets of explain requests (replies $explain_len octets each)" \
    "sent, VmRSS $rss0 kB -> $rss1 kB"
expect "unread replies: VmRSS grows by $((rss1 - rss0)) kB (< $RSS_GROWTH_MAX_KB)" \
    test $((rss1 - rss0)) -lt "$RSS_GROWTH_MAX_KB"
expect_reply "unread replies: meanwhile postmap is answered" "$got" "$SECURE"

rc=0; stop_pid "$pid" || rc=$?
expect "SIGTERM: the daemon exited with status 0" test "$rc" -eq 0

done_testing

#!/bin/bash
# session_io.sh - mxtlsd's own connection I/O path (issue 18: no bufferevent;
# src/mxtlsd/session.c reads into a SESSION_IN_SIZE (4096-octet) buffer,
# answers every complete request in it and writes at once), on the testbed's
# scenarios/daemon.scn (slot 38 unless TESTBED_SLOT says otherwise), mxtlsd
# on a free port of 127.0.0.1:
#
#   a. order with an answer that comes later: three requests in one write on
#      a fresh daemon, the first an uncached domain (its lookup pending), the
#      second an address literal (answered at once): the replies come in
#      request order; the same with a lookup that runs into the zone's
#      timeout (drop.test, whose name server never answers; zone "slow",
#      timeout 1 s) ahead of two others;
#   b. framing across reads: two requests sent one octet at a time (a send
#      each, TCP_NODELAY) are both answered, in order; a request split at
#      every position of its length prefix, colon and payload;
#   c. 1000 pipelined requests in one write (about 30 KB, eight buffers)
#      get 1000 replies, each the right one in order, while SIGHUP is sent
#      to the daemon every 10 ms (signals during reads and writes);
#   d. a write of exactly SESSION_IN_SIZE octets of requests, then one of
#      two buffers and 17 octets (a frame cut at the buffer's end), then a
#      partial request completed later: every request answered;
#   e. a slow reader: a small receive buffer (SO_RCVBUF 4096), 15000
#      pipelined explain requests (~11 MB of replies: past what loopback's
#      socket buffers hold, so mxtlsd meets EAGAIN, waits for EPOLLOUT and
#      passes output_high_water), nothing read for 3 s, then everything
#      read: 15000 complete replies;
#   f. five clients that close while their lookup (under drop.test, zone
#      "stall", timeout 20 s) is pending, with 20 requests pipelined behind
#      it, and one that half-closes after a request answered at once and one
#      pending (on TCP a half-close is a close: it gets the first reply
#      only): six cancels logged, postmap answered afterwards, exit 0 at
#      SIGTERM (under ASan or valgrind: no use after free);
#   g. a second mxtlsd on a Unix socket (issue 15: Exim's ${readsocket}
#      half-closes after its request): a client that half-closes after an
#      at-once answer, a lookup that runs into zone "slow"'s 1 s timeout and
#      another at-once answer gets all three replies, in order, then EOF; one
#      that half-closes after an uncached lookup gets its answer, then EOF;
#      one half-closing with a partial request behind an answered one gets
#      that answer, then EOF; one that closes whole while its lookup (zone
#      "stall") is pending is still dropped and its lookup cancelled: one
#      cancel logged there, and no "malformed" warning.
#
# Only replies and their order are checked, never wall-clock speed.
#
# usage: session_io.sh MXTLSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: session_io.sh MXTLSD}
export TESTBED_SLOT=${TESTBED_SLOT:-38}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/mxtlsd_lib.sh"
MX_PORT=$(free_port $((18500 + 10 * TESTBED_SLOT)))
SECURE="secure match=mx.enforce.sts.test servername=hostname"
IN_SIZE=4096 # SESSION_IN_SIZE (src/mxtlsd/session.h)

if [ ! -x "$MXTLSD" ]; then echo "not ok - mxtlsd binary $MXTLSD is not built"; exit 1; fi
# daemon.scn, plus drop.test: delegated to a name server that reads queries
# and never answers (below), so a lookup under it stays pending until the
# zone's timeout whatever the speed of the daemon (valgrind)
drop_addr=127.53.$TESTBED_SLOT.4
scn=$(mktemp /tmp/mxtls-session-io-XXXXXX.scn)
{
    cat "$here/scenarios/daemon.scn"
    echo "rr drop.test NS ns.drop.test."
    echo "rr ns.drop.test A $drop_addr"
} >"$scn"
mx_setup "$scn"
rm -f "$scn"
python3 - "$drop_addr" "$MX_TMP/silent.up" >"$MX_TMP/silent.log" 2>&1 <<'PY' &
# a name server that reads (UDP and TCP) and never answers
import select, socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((sys.argv[1], 53))
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((sys.argv[1], 53))
t.listen(64)
open(sys.argv[2], "w").close()
conns = []
while True:
    for s in select.select([u, t] + conns, [], [])[0]:
        if s is u:
            u.recvfrom(65535)
        elif s is t:
            conns.append(t.accept()[0])
        elif not s.recv(65535):
            conns.remove(s)
            s.close()
PY
MX_PIDS+=("$!")
for ((i = 0; i < 50; i++)); do [ -e "$MX_TMP/silent.up" ] && break; sleep 0.1; done
expect "a silent name server for drop.test on $drop_addr:53" test -e "$MX_TMP/silent.up"

# sm SCRIPT: a python3 socketmap client on MX_PORT; SCRIPT sees `conn()`,
# `ns(text)`, `replies(sock, n, timeout)` (n replies decoded, fewer and
# "EOF"/"TIMEOUT" when the connection ends or stays silent) and `IN_SIZE`
sm() {
    python3 - "$MX_PORT" "$IN_SIZE" <<PY
import os, select, socket, sys, time
port, IN_SIZE = int(sys.argv[1]), int(sys.argv[2])
def conn(timeout=20, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s
def ns(text):
    b = text.encode()
    return str(len(b)).encode() + b":" + b + b","
def replies(s, n, timeout=20):
    buf, out = b"", []
    s.settimeout(timeout)
    while len(out) < n:
        while b":" in buf and len(out) < n:
            head, rest = buf.split(b":", 1)
            ln = int(head)
            if len(rest) < ln + 1: break
            out.append(rest[:ln].decode()); buf = rest[ln + 1:]
        if len(out) >= n: break
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            out.append("TIMEOUT"); break
        except ConnectionResetError:
            out.append("EOF"); break
        if not chunk:
            out.append("EOF"); break
        buf += chunk
    return out
$1
PY
}
val() { sed -n "s/^$1=//p" <<<"$2" | head -n 1; }

mx_config "$MX_TMP/io.yml" "$MX_PORT" "$MX_TMP/io.db" "  slow:" "    timeout: 1" "  stall:" \
    "    timeout: 20"
MX_ENV=("ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16")
# mx_start asks postmap for a literal only (wait_answer): enforce.sts.test stays uncached
mx_start io "$MX_TMP/io.yml"
MX_ENV=()
pid=$MX_LAST_PID
log=$MX_TMP/io.log

# ------------------------------------------------- a. order with later answers
got=$(sm '
s = conn()
s.sendall(ns("postfix enforce.sts.test") + ns("postfix [192.0.2.1]") + ns("postfix enforce.sts.test"))
print("first=" + "|".join(replies(s, 3)))
s = conn()
s.sendall(ns("slow drop.test") + ns("postfix [192.0.2.1]") + ns("postfix enforce.sts.test"))
print("timeout=" + "|".join(replies(s, 3)))')
check "an uncached lookup ahead of an at-once answer: replies in request order" \
    "$(val first "$got")" "OK $SECURE|NOTFOUND |OK $SECURE"
has "a lookup that runs into its 1 s timeout ahead of two others: its reply first, then theirs" \
    "$(val timeout "$got")" "^(TEMP [^|]*|NOTFOUND )\|NOTFOUND \|OK $SECURE\$"

# ------------------------------------------------- b. framing across reads
got=$(sm '
s = conn()
data = ns("postfix enforce.sts.test") + ns("postfix [192.0.2.1]")
for i in range(len(data)):
    s.sendall(data[i:i + 1])
    time.sleep(0.002)
print("bytes=" + "|".join(replies(s, 2)))
req = ns("postfix enforce.sts.test")
ok = 0
for cut in range(1, len(req)):
    s = conn()
    s.sendall(req[:cut]); time.sleep(0.02); s.sendall(req[cut:])
    if replies(s, 1) == ["OK '"$SECURE"'"]:
        ok += 1
    s.close()
print("cuts=%d/%d" % (ok, len(req) - 1))')
check "two requests sent one octet at a time: both answered, in order" \
    "$(val bytes "$got")" "OK $SECURE|NOTFOUND "
cuts=$(val cuts "$got")
check "a request cut at every position (prefix, colon, payload, comma): each answered" \
    "${cuts%%/*}" "${cuts##*/}"

# ------------------------------------------------- c. 1000 pipelined, SIGHUP meanwhile
( for _ in $(seq 1 200); do kill -HUP "$pid" 2>/dev/null || exit 0; sleep 0.01; done ) &
hup=$!
got=$(sm '
keys = ["enforce.sts.test" if i % 3 else "[192.0.2.%d]" % (i % 250) for i in range(1000)]
want = ["OK '"$SECURE"'" if i % 3 else "NOTFOUND " for i in range(1000)]
s = conn()
data = b"".join(ns("postfix " + k) for k in keys)
s.sendall(data)
got = replies(s, 1000)
bad = [i for i in range(1000) if i >= len(got) or got[i] != want[i]]
print("octets=%d" % len(data))
print("n=%d" % len(got))
print("bad=%d first_bad=%s" % (len(bad), bad[:3]))')
wait "$hup" || true
echo "# 1000 pipelined requests: $(val octets "$got") octets in one write"
check "1000 pipelined requests in one write: 1000 replies" "$(val n "$got")" 1000
check "1000 pipelined requests: each reply the right one, in order" "$(val bad "$got")" "0 first_bad=[]"

# ------------------------------------------------- d. exactly the buffer size
got=$(sm '
def fill(total):
    """requests of exactly total octets: copies of one, then a filler whose map name pads"""
    one = ns("postfix enforce.sts.test")
    n = (total - 40) // len(one)
    rest = total - n * len(one)
    for m in range(1, 65):
        f = ns("p" * m + " [192.0.2.1]")
        if len(f) == rest:
            return one * n + f, n + 1
    raise SystemExit("no filler for %d" % rest)
for total in (IN_SIZE, 2 * IN_SIZE + 17):
    data, n = fill(total)
    assert len(data) == total
    s = conn()
    s.sendall(data)
    got = replies(s, n)
    print("size%d=%d/%d%s" % (total, sum(1 for r in got if r in ("OK '"$SECURE"'", "NOTFOUND ")), n,
          "" if got[-1] == "NOTFOUND " else " (last: %s)" % got[-1][:40]))
    s.close()
# a full buffer of requests and the start of one more, completed later
data, n = fill(IN_SIZE)
tail = ns("postfix enforce.sts.test")
s = conn()
s.sendall(data + tail[:7]); time.sleep(0.3); s.sendall(tail[7:])
got = replies(s, n + 1)
print("partial=%d/%d" % (sum(1 for r in got if r in ("OK '"$SECURE"'", "NOTFOUND ")), n + 1))')
v=$(val "size$IN_SIZE" "$got")
check "requests of exactly $IN_SIZE octets (one buffer) in one write: all answered" "${v%%/*}" "${v##*/}"
v=$(val "size$((2 * IN_SIZE + 17))" "$got")
check "requests of $((2 * IN_SIZE + 17)) octets (a frame cut at a buffer's end): all answered" \
    "${v%%/*}" "${v##*/}"
v=$(val partial "$got")
check "a full buffer of requests plus a partial one completed later: all answered" \
    "${v%%/*}" "${v##*/}"

# ------------------------------------------------- e. a slow reader
got=$(sm '
import threading
s = conn(rcvbuf=4096)
n = 15000
t = threading.Thread(target=s.sendall, args=(ns("mxtls-explain postfix enforce.sts.test") * n,))
t.start()
time.sleep(3)
got = replies(s, n, timeout=60)
t.join()
print("total=%d" % sum(len(r) for r in got))
print("n=%d" % len(got))
import json
def whole(r):
    try:
        j = json.loads(r[3:])
        return j.get("domain") == "enforce.sts.test" and j.get("reply") == "OK '"$SECURE"'"
    except ValueError:
        return False
print("ok=%d" % sum(1 for r in got if whole(r)))')
echo "# slow reader: $(val n "$got") explain replies, $(val total "$got") octets"
check "a reader that waits 3 s behind a 4 KB receive buffer: 15000 explain replies" \
    "$(val n "$got")" 15000
check "... each a whole JSON explanation of the key asked (nothing lost or cut across EAGAIN and the throttle)" \
    "$(val ok "$got")" 15000

# ------------------------------------------------- f. closing while pending
cancels0=$(grep -c 'lookup cancelled' "$log" || true)
sm '
for i in range(5):
    s = conn()
    # the reply to the first request proves the daemon has read the write and
    # started the stall lookup behind it (it answers a buffer in one pass), so
    # the close below meets a pending lookup however slow the daemon is
    # (under valgrind a fixed sleep was not enough)
    s.sendall(ns("postfix enforce.sts.test") + ns("stall d%d.drop.test" % i) +
              ns("postfix enforce.sts.test") * 20)
    replies(s, 1, timeout=60)
    s.close()
s = conn()
s.sendall(ns("postfix enforce.sts.test") + ns("stall d9.drop.test"))
s.shutdown(socket.SHUT_WR)
print("half=" + "|".join(replies(s, 2, timeout=10)))' >"$MX_TMP/f.out"
got=$(cat "$MX_TMP/f.out")
check "a client that half-closes after a request answered at once gets that reply (then EOF)" \
    "$(val half "$got")" "OK $SECURE|EOF"
for ((i = 0; i < 50; i++)); do
    [ "$(($(grep -c 'lookup cancelled' "$log" || true) - cancels0))" -ge 6 ] && break
    sleep 0.2
done
cancels=$(($(grep -c 'lookup cancelled' "$log" || true) - cancels0))
expect "5 clients closed while their lookup was pending (requests pipelined behind), 1 half-closed: 6 cancels logged ($cancels)" \
    test "$cancels" -eq 6
expect_reply "afterwards postmap is answered" "$(q postfix enforce.sts.test)" "$SECURE"
expect "the daemon is still running" alive "$pid"

rc=0; stop_pid "$pid" || rc=$?
expect "SIGTERM: the daemon exited with status 0" test "$rc" -eq 0

# ------------------------------------------------- g. Unix socket: half-close answered
usock=$MX_TMP/io.sock
mx_config "$MX_TMP/unix.yml" "$MX_PORT" "$MX_TMP/unix.db" "  slow:" "    timeout: 1" "  stall:" \
    "    timeout: 20" "path: $usock" "mode: 0600"
env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16" "$MXTLSD" \
    -c "$MX_TMP/unix.yml" -v debug -l "$MX_TMP/unix.log" -p "$MX_TMP/unix.pid" \
    </dev/null >>"$MX_TMP/unix.out.log" 2>&1 &
upid=$!
MX_PIDS+=("$upid")
for ((i = 0; i < MX_DEADLINE * 10; i++)); do
    [ -s "$MX_TMP/unix.pid" ] && break
    alive "$upid" || break
    sleep 0.1
done
expect "mxtlsd on the Unix socket $usock (pid $upid) wrote its pidfile" test -s "$MX_TMP/unix.pid"
got=$(python3 - "$usock" <<'PY'
import socket, sys, time
path = sys.argv[1]
def ns(text):
    b = text.encode()
    return str(len(b)).encode() + b":" + b + b","
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(path)
    return s
def rest(s):
    buf = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                return buf.decode() + "EOF"
            buf += c
    except socket.timeout:
        return buf.decode() + "TIMEOUT"
s = conn()
s.sendall(ns("postfix [192.0.2.1]") + ns("slow drop.test") + ns("postfix [192.0.2.2]"))
s.shutdown(socket.SHUT_WR)
print("slow=" + rest(s))
s = conn()
s.sendall(ns("postfix enforce.sts.test"))
s.shutdown(socket.SHUT_WR)
print("uncached=" + rest(s))
s = conn()
s.sendall(ns("postfix [192.0.2.3]") + b"24:postfix enf")
s.shutdown(socket.SHUT_WR)
print("partial=" + rest(s))
s = conn()
s.sendall(ns("stall u1.drop.test"))
time.sleep(0.3)
s.close()
PY
)
has "Unix socket, half-closed after an answer, a lookup that times out (1 s) and an answer: three replies in order, then EOF" \
    "$(val slow "$got")" "^9:NOTFOUND ,[0-9]+:(TEMP [^,]*|NOTFOUND ),9:NOTFOUND ,EOF\$"
check "Unix socket, half-closed after an uncached lookup: its answer, then EOF" \
    "$(val uncached "$got")" "55:OK $SECURE,EOF"
check "Unix socket, half-closed with a partial request behind an answered one: that answer, then EOF" \
    "$(val partial "$got")" "9:NOTFOUND ,EOF"
for ((i = 0; i < 50; i++)); do
    grep -q 'lookup cancelled' "$MX_TMP/unix.log" && break
    sleep 0.2
done
ucancels=$(grep -c 'lookup cancelled' "$MX_TMP/unix.log" || true)
expect "Unix socket: the client that closed whole while pending was dropped, its lookup cancelled; the half-closed ones were not (1 cancel: $ucancels)" \
    test "$ucancels" -eq 1
expect "Unix socket: no malformed-request or bad-frame warning" \
    test "$(grep -c 'malformed\|bad socketmap frame' "$MX_TMP/unix.log" || true)" -eq 0
rc=0; stop_pid "$upid" || rc=$?
expect "Unix socket daemon: SIGTERM, exit status 0" test "$rc" -eq 0

done_testing

#!/bin/bash
# control.sh - mxtlsd's control socket (issue 18), on the testbed's
# scenarios/daemon.scn (slot 34 unless TESTBED_SLOT says otherwise), each
# mxtlsd on a free port of 127.0.0.1 (free_port):
#
#   a. the control socket (control.path) is a socket file of mode 0600 owned
#      by the user mxtlsd runs as; `mxtls query -c` asks it and gets the same
#      JSON as the policy port's explain map gave before (volatile ages
#      aside), also over loopback TCP (control.host/port);
#   b. the policy port answers the map name mxtls-explain only with
#      explain_on_policy_port: true; with false (the default) it is a map
#      name like any other: "ZONE NEXTHOP" is no next-hop, NOTFOUND, while
#      Postfix's own requests are answered as before; `mxtls query` against
#      a configuration without a control socket then says what to do;
#   c. protocol: "explain ZONE NEXTHOP" -> OK {json}; an unknown verb ->
#      "PERM unknown request" and the connection stays usable; a malformed
#      verb, a malformed netstring and an oversized frame -> PERM, then the
#      connection is closed;
#   d. access: root and the daemon's user (-u nobody) connect; another user
#      (nobody, or daemon when mxtlsd runs as nobody) gets EACCES;
#   e. limits: CONTROL_MAX_CONNECTIONS (8) control connections at once, the
#      9th waits (no reply) until one ends, then is answered; Postfix's port
#      is answered meanwhile;
#   f. a second mxtlsd naming the same control socket refuses to start and
#      leaves the first one's socket working; SIGTERM removes the file; a
#      non-loopback control.host is refused by --check-config (exit 78).
#
# usage: control.sh MXTLSD MXTLS
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: control.sh MXTLSD MXTLS}
MXTLS=${2:?usage: control.sh MXTLSD MXTLS}
export TESTBED_SLOT=${TESTBED_SLOT:-34}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/mxtlsd_lib.sh"
SECURE="secure match=mx.enforce.sts.test servername=hostname"
CONTROL_MAX=8 # CONTROL_MAX_CONNECTIONS in src/mxtlsd/control.h

for b in "$MXTLSD" "$MXTLS"; do
    if [ ! -x "$b" ]; then echo "not ok - binary $b is not built"; exit 1; fi
done
command -v setpriv >/dev/null || { echo "not ok - setpriv (util-linux) is installed"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "ok - # SKIP control.sh needs root (socket owners, setpriv)"; exit 0; }
mx_setup "$here/scenarios/daemon.scn"
# Others may traverse (not list) the scratch directory: the socket's own
# mode, not a directory, must be what keeps them out.
chmod 0711 "$MX_TMP"
CTL=$MX_TMP/ctl
mkdir -m 0755 "$CTL"

# ctl AS SOCKET SCRIPT: python3 as user AS (root, or a name for setpriv),
# with `conn()` to SOCKET (a path, or "tcp:PORT"), `ns(text)` and
# `replies(s, n, timeout)` (decoded replies, then "EOF"/"TIMEOUT").
ctl() {
    local as=$1 sock=$2 script=$3 run=()
    [ "$as" = root ] || run=(setpriv --reuid="$as" --regid=nogroup --clear-groups --)
    # the system python: a per-user one (pyenv) may not be readable by AS
    "${run[@]}" /usr/bin/python3 - "$sock" <<PY
import socket, sys
where = sys.argv[1]
def conn(timeout=10):
    if where.startswith("tcp:"):
        return socket.create_connection(("127.0.0.1", int(where[4:])), timeout=timeout)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(where)
    return s
def ns(text):
    b = text.encode() if isinstance(text, str) else text
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
$script
PY
}

# jsame A B: the two explain JSON texts are equal once the ages that move
# with time (facts_age, a policy's age, the store's backlog) are left out
jsame() {
    python3 - "$1" "$2" <<'PY'
import json, sys
def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if k not in ("facts_age", "age", "cache_store")}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o
a, b = (strip(json.loads(x)) for x in sys.argv[1:3])
sys.exit(0 if a == b else 1)
PY
}

# mxq CONFIG ARGS...: mxtls query; sets Q_OUT, Q_ERR, Q_RC
mxq() {
    local cfg=$1
    shift
    Q_RC=0
    Q_OUT=$("$MXTLS" query -c "$cfg" -t 20 "$@" 2>"$MX_TMP/q.err") || Q_RC=$?
    Q_ERR=$(cat "$MX_TMP/q.err")
}

# --- a/b: explain_on_policy_port true, control socket: the same JSON both ways
MX_PORT=$(free_port)
SOCK=$CTL/a.sock
MX_EXPLAIN_ON_POLICY_PORT=true mx_config "$MX_TMP/a.yml" "$MX_PORT" "$MX_TMP/a.db" \
    "control: {path: $SOCK}"
MX_EXPLAIN_ON_POLICY_PORT=true mx_config "$MX_TMP/a-policy.yml" "$MX_PORT" "$MX_TMP/a.db"
mx_start a "$MX_TMP/a.yml"
A_PID=$MX_LAST_PID
expect "a: the control socket $SOCK is a socket" test -S "$SOCK"
expect "a: its mode is 0600 (stat: $(stat -c %a "$SOCK"))" test "$(stat -c %a "$SOCK")" = 600
expect "a: it belongs to the user mxtlsd runs as (root)" test "$(stat -c %U "$SOCK")" = root
expect_reply "a: postmap postfix enforce.sts.test" "$(q postfix enforce.sts.test)" "$SECURE"
mxq "$MX_TMP/a.yml" --json enforce.sts.test
expect "a: mxtls query through the control socket exits 0 ($Q_RC: $Q_ERR)" test "$Q_RC" = 0
CTL_JSON=$Q_OUT
has "a: its JSON has the reply" "$CTL_JSON" "\"reply\": ?\"OK $SECURE\""
mxq "$MX_TMP/a-policy.yml" --json enforce.sts.test
expect "b: mxtls query through the policy port's explain map exits 0 ($Q_RC: $Q_ERR)" \
    test "$Q_RC" = 0
expect "a: the same JSON through the control socket as through the explain map" \
    jsame "$CTL_JSON" "$Q_OUT"
got=$(q mxtls-explain "postfix enforce.sts.test")
has "b: explain_on_policy_port true: postmap gets the explanation from the policy port" \
    "$got" '^\{.*"reply"'
mxq "$MX_TMP/a.yml" enforce.sts.test
has "a: text output through the control socket" "$Q_OUT" "Postfix gets +OK $SECURE"

# --- c: the protocol, as root
res=$(ctl root "$SOCK" '
s = conn()
s.sendall(ns("explain postfix enforce.sts.test"))
print("1", replies(s, 1)[0][:40])
s.sendall(ns("stats"))
print("2", replies(s, 1)[0])
s.sendall(ns("explain postfix enforce.sts.test"))
print("3", replies(s, 1)[0][:5])
s.sendall(ns("explain justoneword"))
print("4", replies(s, 1)[0])
s.sendall(ns("postfix enforce.sts.test"))
print("5", replies(s, 1)[0])
s.close()
for label, req in (("6", ns("EXPLAIN postfix enforce.sts.test")), ("7", ns(b"explain\x00x")),
                   ("8", b"5:stats!"), ("9", b"abc,"), ("10", b"99999:"),
                   ("11", ns("x" * 40000)), ("12", ns(""))):
    s = conn()
    s.sendall(req)
    print(label, " | ".join(replies(s, 2, 5)))
    s.close()
' || true)
has "c: explain ZONE NEXTHOP -> OK {json}" "$res" '^1 OK \{"'
has "c: an unknown verb -> PERM unknown request" "$res" '^2 PERM unknown request$'
has "c: the connection stays usable after an unknown verb" "$res" '^3 OK \{"'
has "c: explain with one word -> PERM expected ZONE NEXTHOP" "$res" '^4 PERM explain: expected'
has "c: a socketmap request on the control socket: verb postfix unknown" "$res" \
    '^5 PERM unknown request$'
has "c: an upper-case verb is malformed: PERM, then closed" "$res" '^6 PERM malformed request.* \| EOF$'
has "c: a NUL after the verb is malformed: PERM, then closed" "$res" '^7 PERM malformed request.* \| EOF$'
has "c: a netstring without its comma: PERM, then closed" "$res" '^8 PERM malformed netstring \| EOF$'
has "c: not a netstring: PERM, then closed" "$res" '^9 PERM malformed netstring \| EOF$'
has "c: an oversized length: PERM request too long, then closed" "$res" '^10 PERM request too long \| EOF$'
has "c: an oversized frame: PERM request too long, then closed" "$res" '^11 PERM request too long \| EOF$'
has "c: an empty request is malformed: PERM, then closed" "$res" '^12 PERM malformed request.* \| EOF$'
expect "c: mxtlsd is still running" alive "$A_PID"

# --- d: another user cannot connect to a root daemon's 0600 socket
res=$(ctl nobody "$SOCK" '
try:
    s = conn()
    s.sendall(ns("explain postfix enforce.sts.test"))
    print("connected", replies(s, 1)[0][:20])
except PermissionError as e:
    print("EACCES")
' 2>&1 || true)
has "d: nobody cannot connect to root's control socket (EACCES)" "$res" '^EACCES$'
res=$(setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
    "$MXTLS" query -c "$MX_TMP/a.yml" enforce.sts.test 2>&1) && rc=0 || rc=$?
expect "d: mxtls query as nobody exits 3 ($rc)" test "$rc" = 3
has "d: and says why" "$res" "cannot connect to mxtlsd at $SOCK: Permission denied"

# --- e: the control socket's connection limit; Postfix's port meanwhile
res=$(ctl root "$SOCK" '
import time
held = [conn() for _ in range('"$CONTROL_MAX"')]
time.sleep(0.5)  # all accepted: the limit is reached
extra = conn()   # in the listen queue
extra.sendall(ns("explain postfix enforce.sts.test"))
print("waiting", replies(extra, 1, 2)[0][:7])
import subprocess
r = subprocess.run(["postmap", "-c", "'"$MX_PFDIR"'", "-q", "enforce.sts.test",
                    "socketmap:inet:127.0.0.1:'"$MX_PORT"':postfix"], capture_output=True, text=True,
                   timeout=30)
print("postmap", r.stdout.strip())
held[0].close()
print("after", replies(extra, 1, 10)[0][:5])
for s in held[1:]:
    s.close()
' || true)
has "e: with $CONTROL_MAX control connections open the next one gets no reply" "$res" '^waiting TIMEOUT$'
has "e: Postfix's port is answered meanwhile" "$res" "^postmap $SECURE$"
has "e: once one ends, the waiting one is answered" "$res" '^after OK \{"$'
expect "e: the pause is logged once, naming the control connections" \
    test "$(grep -c 'control connections open (the control socket.s limit 8)' "$MX_TMP/a.log")" = 1

# --- f: a second daemon on the same control socket refuses; the first keeps it
P2=$(free_port $((MX_PORT + 1)))
mx_config "$MX_TMP/f.yml" "$P2" "$MX_TMP/f.db" "control: {path: $SOCK}"
rc=0
timeout -k 5 20 "$MXTLSD" -c "$MX_TMP/f.yml" -l "$MX_TMP/f.log" </dev/null >/dev/null 2>&1 || rc=$?
expect "f: a second mxtlsd naming the same control socket exits 69 ($rc)" test "$rc" = 69
has "f: and says another process listens on it" "$(cat "$MX_TMP/f.log")" \
    'control socket: .*another process is listening'
mxq "$MX_TMP/a.yml" --json enforce.sts.test
expect "f: the first daemon's control socket still answers ($Q_RC)" test "$Q_RC" = 0
stop_pid "$A_PID" || true
expect "f: SIGTERM removes the control socket file" test ! -e "$SOCK"

# --- b: explain_on_policy_port false (the default), control over loopback TCP
MX_PORT=$(free_port)
CPORT=$(free_port $((MX_PORT + 1)))
MX_EXPLAIN_ON_POLICY_PORT=false mx_config "$MX_TMP/b.yml" "$MX_PORT" "$MX_TMP/b.db" \
    "control: {host: 127.0.0.1, port: $CPORT}"
MX_EXPLAIN_ON_POLICY_PORT=false mx_config "$MX_TMP/b-policy.yml" "$MX_PORT" "$MX_TMP/b.db"
mx_start b "$MX_TMP/b.yml"
B_PID=$MX_LAST_PID
expect_reply "b: postmap postfix enforce.sts.test" "$(q postfix enforce.sts.test)" "$SECURE"
expect_reply "b: explain_on_policy_port false: the explain map name is NOTFOUND" \
    "$(q mxtls-explain "postfix enforce.sts.test")" NOTFOUND
mxq "$MX_TMP/b.yml" --json enforce.sts.test
expect "b: mxtls query through loopback TCP control exits 0 ($Q_RC: $Q_ERR)" test "$Q_RC" = 0
has "b: with the reply" "$Q_OUT" "\"reply\": ?\"OK $SECURE\""
mxq "$MX_TMP/b-policy.yml" enforce.sts.test
expect "b: mxtls query without a control socket, explain off: exit 3 ($Q_RC)" test "$Q_RC" = 3
has "b: and it says what to do" "$Q_ERR" 'explain_on_policy_port: true'
res=$(ctl root "tcp:$CPORT" '
s = conn()
s.sendall(ns("metrics"))
print(replies(s, 1)[0])
' || true)
has "b: an unknown verb on TCP control: PERM unknown request" "$res" '^PERM unknown request$'
stop_pid "$B_PID" || true

# --- d: mxtlsd -u nobody: nobody's socket; nobody connects, daemon does not
MX_PORT=$(free_port)
mkdir -m 0700 "$MX_TMP/nob"
chown nobody:nogroup "$MX_TMP/nob"
SOCK=$CTL/d.sock
mx_config "$MX_TMP/d.yml" "$MX_PORT" "$MX_TMP/nob/d.db" "control: {path: $SOCK}"
rm -f "$MX_TMP/d.pid"
"$MXTLSD" -c "$MX_TMP/d.yml" -v debug -l "$MX_TMP/d.log" -p "$MX_TMP/d.pid" -u nobody -g nogroup \
    </dev/null >>"$MX_TMP/d.out.log" 2>&1 &
MX_LAST_PID=$!
MX_PIDS+=("$MX_LAST_PID")
wait_answer d "$MX_LAST_PID" "$MX_PORT" "$MX_TMP/d.pid" || exit 1
D_PID=$MX_LAST_PID
expect "d: -u nobody: the control socket belongs to nobody ($(stat -c %U:%G "$SOCK"))" \
    test "$(stat -c %U:%G "$SOCK")" = nobody:nogroup
expect "d: -u nobody: mode 0600" test "$(stat -c %a "$SOCK")" = 600
res=$(ctl nobody "$SOCK" '
s = conn()
s.sendall(ns("explain postfix enforce.sts.test"))
print(replies(s, 1)[0][:5])
' 2>&1 || true)
has "d: the daemon's user connects and is answered" "$res" '^OK \{"$'
res=$(ctl root "$SOCK" '
s = conn()
s.sendall(ns("explain postfix enforce.sts.test"))
print(replies(s, 1)[0][:5])
' 2>&1 || true)
has "d: root connects and is answered" "$res" '^OK \{"$'
res=$(ctl daemon "$SOCK" '
try:
    conn()
    print("connected")
except PermissionError:
    print("EACCES")
' 2>&1 || true)
has "d: another user (daemon) cannot connect (EACCES)" "$res" '^EACCES$'
stop_pid "$D_PID" || true

# --- f: a non-loopback control address is refused at load
mx_config "$MX_TMP/bad.yml" "$MX_PORT" "$MX_TMP/bad.db" "control: {host: 0.0.0.0, port: 1}"
rc=0
res=$("$MXTLSD" -c "$MX_TMP/bad.yml" --check-config 2>&1) || rc=$?
expect "f: control.host 0.0.0.0: --check-config exits 78 ($rc)" test "$rc" = 78
has "f: and names the key" "$res" 'control.host: 0.0.0.0 is not a loopback address'

done_testing

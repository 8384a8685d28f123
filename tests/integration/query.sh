#!/bin/bash
# query.sh - `mxtls query` (issue 4): what mxtlsd answers Postfix, and why.
#
#   query.sh MXTLSD MXTLS
#
# Brings up the testbed with scenarios/query.scn (slot 8 unless TESTBED_SLOT
# says otherwise): a signed DANE domain (3 1 1 auto, plus an unusable 0 0 1
# record), an MTA-STS enforce domain in an insecure zone, a testing-mode
# domain, a domain without any policy and a bogus zone. Starts mxtlsd on
# 127.0.0.1:18468 (pidfile readiness, its PID recorded and only it stopped),
# then, for every "#q ZONE NEXTHOP | EXIT | JSON | TEXT" case of the scenario,
# both against the daemon and with --direct:
#
#   - the exit status (0 OK, 1 NOTFOUND, 2 TEMP) of the text and --json runs;
#   - the facts in the text output (the TEXT patterns);
#   - the --json output: one line, one JSON document, holding the JSON facts;
#   - against the daemon, that the reply shown is what Postfix's own client
#     gets: `postmap -q NEXTHOP socketmap:inet:127.0.0.1:18468:ZONE`.
#
# Then: a policy the daemon has cached shows as cached (source "cache"),
# while --direct always fetches; a daemon on a Unix socket (path:) is asked
# through it; usage errors exit 64 and --help 0; and every way of failing to
# get an answer exits 3 with a message: nothing listening, a stopped daemon,
# an unreadable configuration, a peer that never answers (-t 1), and a fake
# daemon (python3, recording the request it got) answering a malformed
# netstring, PERM, or text that is not JSON. The request on the wire must be
# the netstring "N:mxtls-explain ZONE NEXTHOP,". Every run's stderr must be
# free of sanitizer reports (meaningful with a -Db_sanitize build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: query.sh MXTLSD MXTLS}
MXTLS=${2:?usage: query.sh MXTLSD MXTLS}
export TESTBED_SLOT=${TESTBED_SLOT:-8}
# shellcheck source=/dev/null
. "$here/mxtlsd_lib.sh"

scn=$here/scenarios/query.scn
MX_PORT=18468
DEAD_PORT=18467 # where nothing of ours listens

mx_setup "$scn"
cfg=$MX_TMP/mxtlsd.yml
mx_config "$cfg" "$MX_PORT" "$MX_TMP/cache.db"
mx_start mxtlsd "$cfg"
daemon_pid=$MX_LAST_PID

# mxq ARGS...: `mxtls query ARGS`; sets Q_OUT (stdout), Q_ERR (stderr), Q_RC
mxq() {
    Q_RC=0
    Q_OUT=$(timeout -k 5 90 "$MXTLS" query "$@" 2>"$MX_TMP/q.err") || Q_RC=$?
    Q_ERR=$(cat "$MX_TMP/q.err")
}

# mxc ARGS...: `mxtls ARGS` (the dispatcher), same variables
mxc() {
    Q_RC=0
    Q_OUT=$(timeout -k 5 90 "$MXTLS" "$@" 2>"$MX_TMP/q.err") || Q_RC=$?
    Q_ERR=$(cat "$MX_TMP/q.err")
}

SAN_REPORTS=0
# sanitizer_clean WHAT: the last run's stderr holds no sanitizer report
sanitizer_clean() {
    if printf '%s\n' "$Q_ERR" | grep -Eq 'Sanitizer|runtime error:'; then
        not_ok "$1: no sanitizer report"
        printf '%s\n' "$Q_ERR" | head -n 40 | sed 's/^/  # /'
        SAN_REPORTS=$((SAN_REPORTS + 1))
    fi
}

# one_document TEXT: exactly one line holding one JSON object
one_document() {
    [ "$(printf '%s\n' "$1" | wc -l)" -eq 1 ] &&
        python3 -c 'import json, sys; d = json.loads(sys.argv[1]); sys.exit(not isinstance(d, dict))' "$1"
}

# jget JSON PATH: one value (dotted path), for the shell
jget() {
    python3 -c '
import json, sys
n = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    n = n[int(k)] if isinstance(n, list) else n[k]
print(json.dumps(n) if isinstance(n, bool) else n)' "$1" "$2"
}

# qcases SCN: the "#q ZONE NEXTHOP | EXIT | JSON | TEXT" lines, tab-separated
qcases() {
    awk '/^#q / {
        sub(/^#q /, "")
        n = split($0, f, / \| /)
        split(f[1], zk, " ")
        printf "%s\t%s\t%s\t%s\t%s\n", zk[1], zk[2], f[2], f[3], f[4]
    }' "$1"
}

# check_rc WHAT WANT: the last run exited WANT
check_rc() {
    if [ "$Q_RC" = "$2" ]; then ok "$1"; else
        not_ok "$1"
        echo "  # exit status $Q_RC, want $2"
        printf '%s\n' "$Q_OUT" "$Q_ERR" | head -n 40 | sed 's/^/  # /'
    fi
}

# ---------------------------------------------------------------- the cases

n_cases=0
n_post=0
for mode in daemon direct; do
    extra=()
    [ "$mode" = direct ] && extra=(--direct)
    while IFS=$'\t' read -r zone key want_rc spec texts; do
        n_cases=$((n_cases + 1))
        what="$mode: mxtls query --zone $zone $key"

        # the text output
        mxq -c "$cfg" --zone "$zone" "${extra[@]}" "$key"
        sanitizer_clean "$what"
        check_rc "$what: exit $want_rc" "$want_rc"
        IFS=';' read -ra pats <<<"$texts"
        for pat in "${pats[@]}"; do
            pat=${pat# }
            pat=${pat% }
            [ -n "$pat" ] || continue
            has "$what: text has /$pat/" "$Q_OUT" "$pat"
        done

        # the JSON output
        mxq -c "$cfg" --zone "$zone" "${extra[@]}" --json "$key"
        sanitizer_clean "$what --json"
        check_rc "$what --json: exit $want_rc" "$want_rc"
        json=$Q_OUT
        if one_document "$json"; then ok "$what --json: one line, one JSON object"; else
            not_ok "$what --json: one line, one JSON object"
            printf '%s\n' "$json" | head -n 20 | sed 's/^/  # /'
        fi
        bad=$(jcheck "$json" "$spec")
        if [ -z "$bad" ]; then ok "$what --json: $spec"; else
            not_ok "$what --json: $spec"
            printf '%s\n' "$bad" | sed 's/^/  # /'
            echo "  # json: $json"
        fi

        # the reply shown is what Postfix's own client gets from the daemon
        if [ "$mode" = daemon ]; then
            reply=$(jget "$json" reply 2>/dev/null || echo "(no reply in the JSON)")
            case $reply in
            "OK "*) want=${reply#OK } ;;
            NOTFOUND*) want=NOTFOUND ;;
            TEMP*) want=TEMP ;;
            *) want="(unexpected reply: $reply)" ;;
            esac
            expect_reply "$zone $key: postmap -q gets the reply mxtls query shows ($want)" \
                "$(q "$zone" "$key")" "$want"
            n_post=$((n_post + 1))
        fi
    done < <(qcases "$scn")
done
if [ "$n_cases" -ge 16 ] && [ "$n_post" -ge 8 ]; then
    ok "$n_cases query cases read from query.scn ($n_post compared with postmap)"
else
    not_ok "query.scn holds the cases (read $n_cases, $n_post compared with postmap)"
fi

# ---------------------------------------------------------------- the cache

# The daemon has fetched qsts.test's policy above: it now answers from its cache.
mxq -c "$cfg" --json qsts.test
json=$Q_OUT
bad=$(jcheck "$json" "mta_sts_source=cache; mta_sts.policy.cached=true")
if [ -z "$bad" ]; then ok "daemon: qsts.test's policy comes from mxtlsd's cache"; else
    not_ok "daemon: qsts.test's policy comes from mxtlsd's cache"
    printf '%s\n' "$bad" "json: $json" | sed 's/^/  # /'
fi
mxq -c "$cfg" qsts.test
has "daemon: the text says the policy is cached" "$Q_OUT" '^  cache age +[0-9]+ s \(from the cache\)$'
has "daemon: the text names the source" "$Q_OUT" '^  source +cache$'

# --direct has no cache: it fetches every time.
mxq -c "$cfg" --direct --json qsts.test
sanitizer_clean "direct qsts.test"
json=$Q_OUT
bad=$(jcheck "$json" "mta_sts_source=fetched; mta_sts.policy.cached=false")
if [ -z "$bad" ]; then ok "--direct: qsts.test's policy is fetched (no cache)"; else
    not_ok "--direct: qsts.test's policy is fetched (no cache)"
    printf '%s\n' "$bad" "json: $json" | sed 's/^/  # /'
fi
mxq -c "$cfg" --direct qsts.test
has "--direct: the text says the policy was fetched" "$Q_OUT" \
    '^  cache age +[0-9]+ s \(fetched for this query\)$'

# ---------------------------------------------------------------- no answer in time

# qhole.test's name server does not exist: mxtls's own deadline (-t 1) comes
# before the zone's 4 s lookup timeout, in the daemon and in --direct (which
# then cancels its lookup and frees everything: the sanitizer build checks it).
mxq -c "$cfg" -t 1 --direct qhole.test
sanitizer_clean "direct -t 1 qhole.test"
check_rc "--direct -t 1 qhole.test (no name server answers): exit 3" 3
has "--direct -t 1 qhole.test: the message" "$Q_ERR" "qhole.test: no answer within 1 s"
mxq -c "$cfg" -t 1 qhole.test
check_rc "daemon, -t 1 qhole.test: exit 3" 3
has "daemon, -t 1 qhole.test: the message" "$Q_ERR" "mxtlsd at 127.0.0.1:$MX_PORT: no reply in time"
# Without -t: the zone's timeout ends the MX lookup, and that is TEMP (rule 1).
mxq -c "$cfg" qhole.test
check_rc "daemon, qhole.test: the MX lookup times out: exit 2 (TEMP)" 2
has "daemon, qhole.test: rule mx-failed" "$Q_OUT" '^  rule +mx-failed: '
mxq -c "$cfg" --direct qhole.test
sanitizer_clean "direct qhole.test"
check_rc "--direct qhole.test: exit 2 (TEMP)" 2

# ---------------------------------------------------------------- a Unix socket

ucfg=$MX_TMP/mxtlsd-unix.yml
sock=$MX_TMP/mxtlsd.sock
mx_config "$ucfg" "$DEAD_PORT" "$MX_TMP/cache-unix.db" "path: $sock" "mode: 0600"
rm -f "$MX_TMP/mxtlsd-unix.pid"
"$MXTLSD" -c "$ucfg" -v debug -l "$MX_TMP/mxtlsd-unix.log" -p "$MX_TMP/mxtlsd-unix.pid" \
    </dev/null >>"$MX_TMP/mxtlsd-unix.out.log" 2>&1 &
upid=$!
MX_PIDS+=("$upid")
for ((i = 0; i < MX_DEADLINE * 10; i++)); do
    { [ -s "$MX_TMP/mxtlsd-unix.pid" ] && [ -S "$sock" ]; } && break
    alive "$upid" || break
    sleep 0.1
done
if [ -S "$sock" ] && [ "$(cat "$MX_TMP/mxtlsd-unix.pid" 2>/dev/null)" = "$upid" ]; then
    ok "mxtlsd (pid $upid) listens on the Unix socket $sock"
    mxq -c "$ucfg" qnone.test
    sanitizer_clean "unix socket"
    check_rc "unix socket: mxtls query qnone.test exits 1 (NOTFOUND)" 1
    has "unix socket: the reply is shown" "$Q_OUT" '^  Postfix gets +NOTFOUND'
    mxq -c "$ucfg" qdane.test
    check_rc "unix socket: mxtls query qdane.test exits 0 (OK)" 0
    urc=0
    stop_pid "$upid" || urc=$?
    check "the Unix-socket mxtlsd exits 0 on SIGTERM" "$urc" 0
    mxq -c "$ucfg" qnone.test
    check_rc "unix socket, daemon stopped: exit 3" 3
    has "unix socket, daemon stopped: the message names the socket" "$Q_ERR" \
        "cannot connect to mxtlsd at $sock"
else
    not_ok "mxtlsd listens on the Unix socket $sock"
    tail -n 20 "$MX_TMP/mxtlsd-unix.out.log" "$MX_TMP/mxtlsd-unix.log" 2>/dev/null | sed 's/^/  # /'
fi

# ---------------------------------------------------------------- usage

mxc
check_rc "mxtls without a command: exit 64" 64
has "mxtls without a command: the usage on stderr" "$Q_ERR" '^usage: mxtls COMMAND'
mxc --help
check_rc "mxtls --help: exit 0" 0
has "mxtls --help lists query" "$Q_OUT" '^  query +'
mxc --version
check_rc "mxtls --version: exit 0" 0
has "mxtls --version" "$Q_OUT" '^mxtls [0-9]'
mxc nosuchcommand
check_rc "mxtls nosuchcommand: exit 64" 64
has "mxtls nosuchcommand: named" "$Q_ERR" "no command 'nosuchcommand'"
mxq --help
check_rc "mxtls query --help: exit 0" 0
has "mxtls query --help: synopsis" "$Q_OUT" '^usage: mxtls query '
has "mxtls query --help: exit codes" "$Q_OUT" '3 mxtlsd unreachable'
mxc help query
check_rc "mxtls help query: exit 0" 0
has "mxtls help query: the same text" "$Q_OUT" '^usage: mxtls query '
mxq
check_rc "mxtls query without a next-hop: exit 64" 64
mxq --no-such-option qsts.test
check_rc "mxtls query --no-such-option: exit 64" 64
mxq a.test b.test
check_rc "mxtls query with two next-hops: exit 64" 64
mxq --zone "two words" qsts.test
check_rc "mxtls query --zone with a space: exit 64" 64
mxq -t 0 qsts.test
check_rc "mxtls query -t 0: exit 64" 64

# ---------------------------------------------------------------- failures: exit 3

if port_busy "$DEAD_PORT"; then
    not_ok "port $DEAD_PORT is free for the unreachable-daemon checks"
else
    dcfg=$MX_TMP/dead.yml
    printf 'host: 127.0.0.1\nport: %s\n' "$DEAD_PORT" >"$dcfg"
    mxq -c "$dcfg" qsts.test
    check_rc "nothing listens: exit 3" 3
    has "nothing listens: the message" "$Q_ERR" \
        "cannot connect to mxtlsd at 127.0.0.1:$DEAD_PORT: Connection refused"
    check "nothing listens: nothing on stdout" "$Q_OUT" ""
    mxq -c "$dcfg" --json qsts.test
    check_rc "nothing listens, --json: exit 3" 3
    check "nothing listens, --json: nothing on stdout" "$Q_OUT" ""
fi
mxq -c "$MX_TMP/no-such-config.yml" qsts.test
check_rc "an unreadable configuration: exit 3" 3
has "an unreadable configuration: named" "$Q_ERR" "no-such-config.yml"

# A fake daemon: accepts one connection, records the request, answers MODE.
cat >"$MX_TMP/fake_daemon.py" <<'EOF'
import socket, sys, time
port, mode, reqfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
payloads = {
    "perm": b"PERM bad request",
    "notjson": b"OK not json",
    "minimal": b'OK {"reply":"TEMP try later"}',  # only the reply: exit 2
}
replies = {k: b"%d:%s," % (len(v), v) for k, v in payloads.items()}
replies["malformed"] = b"OK {}\n"  # no netstring framing
replies["truncated"] = b"12:OK {},"  # the length says 12, 6 octets follow, then EOF
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(1)
open(reqfile + ".ready", "w").close()
c, _ = s.accept()
c.settimeout(10)
data = b""
while not data.endswith(b","):
    chunk = c.recv(4096)
    if not chunk:
        break
    data += chunk
open(reqfile, "wb").write(data)
if mode == "silent":
    time.sleep(60)
else:
    c.sendall(replies[mode])
    if mode == "truncated":
        c.shutdown(socket.SHUT_WR)
        time.sleep(2)
c.close()
EOF

# fake MODE WANT_STDERR [ARGS...]: run the fake daemon, ask it, check exit 3
fake() {
    local fmode=$1 want_err=$2 want_rc=${3:-3} fpid
    shift 3 || shift $#
    rm -f "$MX_TMP/req.$fmode" "$MX_TMP/req.$fmode.ready"
    python3 "$MX_TMP/fake_daemon.py" "$DEAD_PORT" "$fmode" "$MX_TMP/req.$fmode" &
    fpid=$!
    MX_PIDS+=("$fpid")
    for ((i = 0; i < 100; i++)); do
        [ -e "$MX_TMP/req.$fmode.ready" ] && break
        sleep 0.1
    done
    mxq -c "$dcfg" -t 2 --zone strict "$@" "[mx.qdane.test]:587"
    sanitizer_clean "fake daemon ($fmode)"
    check_rc "a daemon answering '$fmode': exit $want_rc" "$want_rc"
    has "a daemon answering '$fmode': the message" "$Q_ERR$Q_OUT" "$want_err"
    local payload="mxtls-explain strict [mx.qdane.test]:587"
    check "the explain request on the wire ($fmode)" "$(cat "$MX_TMP/req.$fmode" 2>/dev/null)" \
        "${#payload}:$payload,"
    stop_pid "$fpid" >/dev/null 2>&1 || true
}
if ! port_busy "$DEAD_PORT"; then
    fake silent "no reply in time" 3
    fake malformed "sent a malformed reply" 3
    fake truncated "closed the connection without a reply" 3
    fake perm 'answered the explain request with "PERM bad request"' 3
    fake notjson "not what mxtlsd sends" 3
    fake minimal "Postfix gets +TEMP try later" 2
    fake minimal '^\{"reply":"TEMP try later"\}$' 2 --json
fi

# ---------------------------------------------------------------- the daemon stops

drc=0
stop_pid "$daemon_pid" || drc=$?
check "mxtlsd exits 0 on SIGTERM" "$drc" 0
if grep -Eq 'Sanitizer|runtime error:' "$MX_TMP/mxtlsd.out.log" 2>/dev/null; then
    not_ok "mxtlsd's stderr holds no sanitizer report"
    head -n 40 "$MX_TMP/mxtlsd.out.log" | sed 's/^/  # /'
else
    ok "mxtlsd's stderr holds no sanitizer report"
fi
mxq -c "$cfg" qsts.test
check_rc "mxtlsd stopped: exit 3" 3
has "mxtlsd stopped: the message" "$Q_ERR" "cannot connect to mxtlsd at 127.0.0.1:$MX_PORT"
check "no sanitizer report from mxtls in any run" "$SAN_REPORTS" 0

done_testing

#!/bin/bash
# tlsrpt_serve.sh - `mxtls tlsrpt serve` (issue 13): the reports senders POST
# to an "https" rua (RFC 8460 §3), received over plain HTTP on 127.0.0.1 as
# behind the operator's TLS proxy (contrib/nginx-tlsrpt.conf). No testbed.
#
#   tlsrpt_serve.sh MXTLS
#
# Asserts:
#   - application/tlsrpt+json and application/tlsrpt+gzip POSTs are stored
#     (201); the same report again is a duplicate (200), stored once;
#   - refused, with nothing stored: another Content-Type (415), a body that
#     is not a report (400, the parser's reason in the body), gzip declared
#     but not sent (400), a body over --max-body (413), a GET (405);
#   - summary --json over the store shows the POSTed figures;
#   - SIGTERM stops it with exit 0. Only the PID it started is signalled.
set -uo pipefail
MXTLS=${1:?usage: tlsrpt_serve.sh MXTLS}
MXTLS=$(realpath "$MXTLS") || exit 1
DATA=$(cd "$(dirname "$0")/tlsrpt" && pwd)
T=$(mktemp -d /tmp/tlsrpt_serve.XXXXXX)
DB=$T/reports.db
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
store_hash() { python3 -c 'import sqlite3,sys,hashlib; c=sqlite3.connect(sys.argv[1]); print(hashlib.sha256("\n".join(c.iterdump()).encode()).hexdigest())' "$DB"; }

# a free port on 127.0.0.1, retried if another process takes it first
for _ in 1 2 3 4 5; do
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$MXTLS" tlsrpt serve --db "$DB" --listen "127.0.0.1:$PORT" --max-body 65536 2>"$T/serve.err" &
    PID=$!
    for _ in $(seq 50); do
        grep -q "listening" "$T/serve.err" 2>/dev/null && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    grep -q "listening" "$T/serve.err" && break
    wait "$PID" 2>/dev/null
    PID=
done
[ -n "$PID" ] || { echo "tlsrpt_serve.sh: serve did not start: $(cat "$T/serve.err")" >&2; exit 1; }
URL=http://127.0.0.1:$PORT/v1/tlsrpt

post() { # CONTENT-TYPE FILE -> "code body"
    curl -s -o "$T/body" -w '%{http_code}' -X POST -H "Content-Type: $1" --data-binary "@$2" "$URL"
}
expect() { # WHAT WANT-CODE GOT-CODE [BODY-SUBSTRING]
    if [ "$3" = "$2" ] && { [ -z "${4:-}" ] || grep -qF -- "$4" "$T/body"; }; then
        ok "$1: $3 $(head -c 100 "$T/body")"
    else
        fail "$1: got $3 want $2: $(cat "$T/body")"
    fi
}

expect "POST application/tlsrpt+json" 201 "$(post application/tlsrpt+json "$DATA/sts-two-failures.json")" stored
expect "POST application/tlsrpt+gzip" 201 "$(post application/tlsrpt+gzip "$DATA/named.json.gz")" stored
expect "the same report again" 200 "$(post application/tlsrpt+json "$DATA/sts-two-failures.json")" duplicate
before=$(store_hash)
expect "text/plain refused" 415 "$(post text/plain "$DATA/no-policy-found.json")"
expect "not a report" 400 "$(post application/tlsrpt+json "$DATA/hostile-negative-count.json")" "negative count"
expect "gzip declared, JSON sent" 400 "$(post application/tlsrpt+gzip "$DATA/no-policy-found.json")" "not gzip"
head -c 100000 /dev/zero >"$T/big"
expect "body over --max-body" 413 "$(post application/tlsrpt+json "$T/big")"
expect "GET" 405 "$(curl -s -o "$T/body" -w '%{http_code}' "$URL")"
[ "$(store_hash)" = "$before" ] && ok "refused POSTs stored nothing" || fail "store changed by a refused POST"

"$MXTLS" tlsrpt summary --db "$DB" --json >"$T/sum.json"
python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
e = [x for x in s["policy_domains"] if x["policy_domain"] == "rcpt-one.example"][0]
assert (e["total_successful_session_count"], e["total_failure_session_count"], e["reports"]) == (940 + 1200, 12 + 5, 2), e
' "$T/sum.json" && ok "summary shows the two POSTed reports" || fail "summary after POSTs"

kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
[ "$rc" = 0 ] && grep -q "stopped: 2 stored, 1 duplicates" "$T/serve.err" && ok "SIGTERM: exit 0, counts logged" ||
    fail "stop: rc $rc $(cat "$T/serve.err")"

[ "$fails" = 0 ] && echo "tlsrpt_serve.sh: all passed" || echo "tlsrpt_serve.sh: $fails failed"
[ "$fails" = 0 ]

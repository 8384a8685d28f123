#!/bin/bash
# tlsrpt_datagram.sh - `mxtls tlsrpt collect --socket` receiving libtlsrpt's
# datagrams (issue 12; Postfix 3.10+ smtp_tlsrpt_socket_name). The client
# below is written from libtlsrpt's protocol: one AF_UNIX datagram per
# delivery request, JSON {"dpv","d","pr","policies":[{"policy-type",
# "policy-domain","policy-string","mx-host","failure-details":[{"c","s","n",
# "h","r","a","f"}],"t","f"}]}. Checks: every policy type (1 tlsa, 2 sts,
# 9 no-policy-found) and every failure code (201-205, 301-306) is counted
# as its RFC 8460 result type with its details; a datagram without "dpv"
# (libtlsrpt before 0.5) is version 1; malformed, oversized and
# unknown-version datagrams are counted and logged and the collector goes
# on; SIGTERM stores what arrived. No testbed.
#
# usage: tlsrpt_datagram.sh MXTLS
set -euo pipefail
MXTLS=${1:?usage: tlsrpt_datagram.sh MXTLS}
fails=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; fails=$((fails + 1)); }
check() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; echo "  # got:  '$2'"; echo "  # want: '$3'"; fi; }
command -v sqlite3 >/dev/null || { echo "not ok - sqlite3 is installed"; exit 1; }

T=$(mktemp -d /tmp/mxtls-tlsrpt-dgram-XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT

sock=$T/tlsrpt.sock
"$MXTLS" tlsrpt collect --db "$T/s.db" --socket "$sock" >"$T/out" 2>"$T/err" &
pid=$!
for ((i = 0; i < 100; i++)); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] && ok "collect --socket binds $sock" || not_ok "collect --socket binds $sock"

cat >"$T/client.py" <<'PY'
import json, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
def send(obj_or_bytes):
    b = obj_or_bytes if isinstance(obj_or_bytes, bytes) else json.dumps(obj_or_bytes).encode()
    sock.sendto(b, sys.argv[1])
def dr(domain, policies, dpv="1"):
    d = {"d": domain, "pr": "v=TLSRPTv1; rua=mailto:tlsrpt@" + domain, "policies": policies}
    if dpv is not None:
        d["dpv"] = dpv
    return d
def pol(ptype, domain, f=0, failures=(), strings=None, mx=None):
    p = {"policy-type": ptype, "policy-domain": domain, "t": len(failures), "f": f}
    if strings: p["policy-string"] = strings
    if mx: p["mx-host"] = mx
    if failures: p["failure-details"] = list(failures)
    return p
sts = ["version: STSv1", "mode: enforce", "mx: mx.sts.test", "max_age: 86400"]
# successes, every policy type; one without "dpv" (libtlsrpt < 0.5)
send(dr("tlsa.test", [pol(1, "tlsa.test", strings=["3 1 1 abcd"], mx=["mx.tlsa.test"])]))
send(dr("sts.test", [pol(2, "sts.test", strings=sts, mx=["mx.sts.test"])]))
send(dr("none.test", [pol(9, "none.test")], dpv=None))
# every failure code, one domain each
for code in (201, 202, 203, 204, 205, 301, 302, 303, 304, 305, 306):
    d = "f%d.test" % code
    send(dr(d, [pol(2 if code // 100 == 3 and code < 304 else 1, d, f=1, failures=[
        {"c": code, "s": "192.0.2.25", "n": "mx." + d, "h": "mx." + d, "r": "192.0.2.1",
         "a": "extra", "f": "reason %d" % code}])]))
# two policies in one request: DANE failed, MTA-STS fine
send(dr("two.test", [pol(1, "two.test", f=1, failures=[{"c": 304, "n": "mx.two.test"}]),
                     pol(2, "two.test", strings=sts, mx=["mx.two.test"])]))
# failed without details: validation-failure
send(dr("nodetail.test", [pol(9, "nodetail.test", f=1)]))
# malformed: not JSON, not an object, no domain, no policies, bad type, bad code,
# control character, too many policies, a duplicate member
for bad in (b"not json", b"[1,2]", json.dumps({"dpv": "1", "policies": [pol(9, "x.test")]}).encode(),
            json.dumps({"dpv": "1", "d": "x.test"}).encode(),
            json.dumps(dr("x.test", [pol(5, "x.test")])).encode(),
            json.dumps(dr("x.test", [pol(1, "x.test", f=1, failures=[{"c": 999}])])).encode(),
            json.dumps(dr("x.test", [pol(2, "x.test", strings=["mode: enforce\nmx: evil"])])).encode(),
            json.dumps(dr("x.test", [pol(9, "x.test")] * 17)).encode(),
            b'{"dpv":"1","d":"x.test","d":"y.test","policies":[]}'):
    send(bad)
# oversized and an unknown protocol version
send(json.dumps(dr("big.test", [pol(9, "big.test", strings=["x" * 70000])])).encode())
send(dr("v2.test", [pol(9, "v2.test")], dpv="2"))
# still alive: one more good one
send(dr("last.test", [pol(9, "last.test")]))
PY
python3 "$T/client.py" "$sock"
# the last datagram is stored once the collector has read everything
for ((i = 0; i < 100; i++)); do
    [ "$(sqlite3 "$T/s.db" "SELECT count(*) FROM counts WHERE domain='last.test'" 2>/dev/null)" = 1 ] && break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then ok "the collector survives bad datagrams"; else
    not_ok "the collector survives bad datagrams"; fi
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
check "SIGTERM: exit 0" "$rc" 0
check "counted: 28 received, 9 malformed, 1 oversized, 1 unknown version" \
    "$(grep '^datagrams:' "$T/out")" \
    "datagrams: 28 received, 9 malformed, 1 oversized, 1 unknown version"
has_log() { grep -q -- "$1" "$T/err" && ok "logged: $1" || not_ok "logged: $1"; }
has_log "datagram: protocol version 2 unknown"
has_log "octets, more than 65536"
has_log "datagram: not JSON"

q() { sqlite3 "$T/s.db" "$1"; }
check "tlsa success: type tlsa, its TLSA record and MX host" \
    "$(q "SELECT type, success, failure, strings, mx FROM counts WHERE domain='tlsa.test'")" \
    "tlsa|1|0|3 1 1 abcd
|mx.tlsa.test"
check "sts success: the policy lines" \
    "$(q "SELECT type, success, failure, strings FROM counts WHERE domain='sts.test'")" \
    "sts|1|0|version: STSv1
mode: enforce
mx: mx.sts.test
max_age: 86400"
check "no dpv (libtlsrpt < 0.5): read as version 1, no-policy-found keeps its domain" \
    "$(q "SELECT type, success FROM counts WHERE domain='none.test'")" "no-policy-found|1"
for pair in 201:starttls-not-supported 202:certificate-host-mismatch 203:certificate-not-trusted \
    204:certificate-expired 205:validation-failure 301:sts-policy-fetch-error \
    302:sts-policy-invalid 303:sts-webpki-invalid 304:tlsa-invalid 305:dnssec-invalid \
    306:dane-required; do
    code=${pair%%:*} name=${pair#*:}
    check "failure code $code is $name with its details" \
        "$(q "SELECT result, sending_ip, mx_host, ip, reason, n FROM failures WHERE domain='f$code.test'")" \
        "$name|192.0.2.25|mx.f$code.test|192.0.2.1|reason $code|1"
done
check "two policies in one request: each counted" \
    "$(q "SELECT type, success, failure FROM counts WHERE domain='two.test' ORDER BY type")" \
    "sts|1|0
tlsa|0|1"
check "failed without details: validation-failure" \
    "$(q "SELECT result FROM failures WHERE domain='nodetail.test'")" "validation-failure"
check "refused datagrams stored nothing" \
    "$(q "SELECT count(*) FROM counts WHERE domain IN ('x.test','y.test','big.test','v2.test')")" 0

if [ "$fails" -gt 0 ]; then echo "# $fails check(s) failed"; exit 1; fi
echo "# all checks passed"

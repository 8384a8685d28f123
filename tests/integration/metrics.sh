#!/bin/bash
# metrics.sh - mxtlsd's Prometheus metrics listener (issue 16 item 1), on the
# testbed's scenarios/metrics.scn (slot 52 unless TESTBED_SLOT says
# otherwise), mxtlsd on free ports of 127.0.0.1:
#
#   a. with `metrics: {port: P}` GET /metrics answers 200 with the text
#      exposition (Content-Type text/plain; version=0.0.4) and `promtool
#      check metrics` accepts it, before and after requests;
#   b. the counters move as Postfix asks (postmap -q): the first query of an
#      MTA-STS domain is a cache miss and a fetch, the second a hit;
#      requests_total counts each reply by map (a zone's name, "(default
#      zone)") and type (OK, TEMP, PERM for a malformed request); a domain
#      whose MX is DNSSEC-bogus is a TEMP and a bogus DANE lookup; the
#      latency histogram counts every reply; the cache gauges are non-zero;
#   c. anything but GET /metrics is 404;
#   d. a real Prometheus (Debian's prometheus) scrapes it: up == 1 and the
#      requests it saw are the ones made;
#   e. a metrics.host that is not loopback is refused by --check-config
#      (exit 78), and without `metrics` nothing listens.
#
# usage: metrics.sh MXTLSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: metrics.sh MXTLSD}
export TESTBED_SLOT=${TESTBED_SLOT:-52}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/mxtlsd_lib.sh"
SECURE="secure match=mx.enforce.sts.test servername=hostname"

if [ ! -x "$MXTLSD" ]; then echo "not ok - binary $MXTLSD is not built"; exit 1; fi
for t in promtool curl; do
    command -v "$t" >/dev/null || { echo "not ok - $t is installed (scripts/deps)"; exit 1; }
done
mx_setup "$here/scenarios/metrics.scn"

MX_PORT=$(free_port)
M_PORT=$(free_port $((MX_PORT + 1)))
mx_config "$MX_TMP/m.yml" "$MX_PORT" "$MX_TMP/m.db" "metrics: {host: 127.0.0.1, port: $M_PORT}"
mx_start m "$MX_TMP/m.yml"
M_PID=$MX_LAST_PID
URL=http://127.0.0.1:$M_PORT/metrics

# scrape FILE: GET /metrics into FILE (headers in FILE.h); prints the status
scrape() { curl -s -D "$1.h" -o "$1" -w '%{http_code}' "$URL"; }
# val FILE SAMPLE: the value of the sample named exactly SAMPLE (name{labels};
# label values may hold spaces: "(default zone)")
val() { awk -v k="$2 " 'index($0, k) == 1 { print $NF; f = 1 } END { if (!f) print "missing" }' "$1"; }
# promcheck FILE: promtool's lint of the exposition (exit 0, no complaint)
promcheck() { local out; out=$(promtool check metrics <"$1" 2>&1) && [ -z "$out" ] || { echo "$out"; return 1; }; }

# --- a: the exposition before any request
check "a: GET /metrics answers 200" "$(scrape "$MX_TMP/s0")" 200
has "a: Content-Type is the text format 0.0.4" "$(cat "$MX_TMP/s0.h")" \
    '^Content-Type: text/plain; version=0.0.4'
expect "a: promtool check metrics accepts the scrape" promcheck "$MX_TMP/s0"
check "a: no request yet" "$(val "$MX_TMP/s0" 'mxtlsd_request_duration_seconds_count')" 0
check "a: no cache miss yet" "$(val "$MX_TMP/s0" 'mxtlsd_sts_cache_misses_total')" 0

# --- b: a miss and a fetch, then a hit
check "b: postmap postfix enforce.sts.test (first: fetched)" "$(q postfix enforce.sts.test)" "$SECURE"
scrape "$MX_TMP/s1" >/dev/null
check "b: one cache miss" "$(val "$MX_TMP/s1" 'mxtlsd_sts_cache_misses_total')" 1
check "b: no hit yet" "$(val "$MX_TMP/s1" 'mxtlsd_sts_cache_hits_total')" 0
check "b: one policy fetch" "$(val "$MX_TMP/s1" 'mxtlsd_sts_policy_fetches_total')" 1
check "b: no fetch failure" \
    "$(val "$MX_TMP/s1" 'mxtlsd_sts_policy_fetch_failures_total{reason="sts-policy-fetch-error"}')" 0
check "b: requests_total{map=\"(default zone)\",reply=\"OK\"} is 1" \
    "$(val "$MX_TMP/s1" 'mxtlsd_requests_total{map="(default zone)",reply="OK"}')" 1
check "b: postmap strict enforce.sts.test (second: from the cache)" \
    "$(q strict enforce.sts.test)" "$SECURE"
scrape "$MX_TMP/s2" >/dev/null
check "b: one cache hit" "$(val "$MX_TMP/s2" 'mxtlsd_sts_cache_hits_total')" 1
check "b: still one miss" "$(val "$MX_TMP/s2" 'mxtlsd_sts_cache_misses_total')" 1
check "b: still one fetch" "$(val "$MX_TMP/s2" 'mxtlsd_sts_policy_fetches_total')" 1
check "b: the zone's own map label: requests_total{map=\"strict\",reply=\"OK\"} is 1" \
    "$(val "$MX_TMP/s2" 'mxtlsd_requests_total{map="strict",reply="OK"}')" 1
check "b: the default zone's count did not move" \
    "$(val "$MX_TMP/s2" 'mxtlsd_requests_total{map="(default zone)",reply="OK"}')" 1
check "b: postmap postfix d.bog.test (MX bogus)" "$(q postfix d.bog.test)" TEMP
# a malformed request (no space between map and key): PERM, counted without a map
res=$(python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"7:nospace,")
print(s.recv(100).decode())' "$MX_PORT")
has "b: a malformed request is answered PERM" "$res" '^[0-9]+:PERM '
scrape "$MX_TMP/s3" >/dev/null
check "b: requests_total{map=\"(default zone)\",reply=\"TEMP\"} is 1" \
    "$(val "$MX_TMP/s3" 'mxtlsd_requests_total{map="(default zone)",reply="TEMP"}')" 1
check "b: requests_total{map=\"(no map)\",reply=\"PERM\"} is 1" \
    "$(val "$MX_TMP/s3" 'mxtlsd_requests_total{map="(no map)",reply="PERM"}')" 1
bogus=$(val "$MX_TMP/s3" 'mxtlsd_dane_lookup_failures_total{result="bogus"}')
expect "b: a bogus DANE lookup was counted ($bogus)" test "$bogus" -ge 1
check "b: the latency histogram counted the 4 replies" \
    "$(val "$MX_TMP/s3" 'mxtlsd_request_duration_seconds_count')" 4
check "b: its +Inf bucket equals its count" \
    "$(val "$MX_TMP/s3" 'mxtlsd_request_duration_seconds_bucket{le="+Inf"}')" 4
ent=$(val "$MX_TMP/s3" 'mxtlsd_sts_cache_entries')
expect "b: the MTA-STS cache gauge holds the domain ($ent)" test "$ent" -ge 1
ent=$(val "$MX_TMP/s3" 'mxtlsd_dane_cache_entries')
expect "b: the DANE facts gauge holds enforce.sts.test ($ent)" test "$ent" -ge 1
has "b: the open connections gauge is there" "$(cat "$MX_TMP/s3")" '^mxtlsd_open_connections [0-9]+$'
check "b: the cache store (sqlite) is up" "$(val "$MX_TMP/s3" 'mxtlsd_cache_store_up')" 1
wr=$(val "$MX_TMP/s3" 'mxtlsd_cache_store_writes_total')
expect "b: the fetched policy's write is counted or pending ($wr)" \
    test "$((wr + $(val "$MX_TMP/s3" 'mxtlsd_cache_store_pending_writes')))" -ge 1
check "b: no fleet claims with sqlite" \
    "$(val "$MX_TMP/s3" 'mxtlsd_cache_fleet_claims_total{outcome="won"}')" 0
expect "b: promtool check metrics accepts the scrape after requests" promcheck "$MX_TMP/s3"

# --- c: anything else is 404
check "c: GET / is 404" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$M_PORT/")" 404
check "c: GET /metrics/x is 404" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/x")" 404
check "c: POST /metrics is 404" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL")" 404
expect "c: mxtlsd is still running" alive "$M_PID"

# --- d: a real Prometheus scrapes it (when Debian's prometheus is installed)
if command -v prometheus >/dev/null; then
    P_PORT=$(free_port $((M_PORT + 1)))
    mkdir -p "$MX_TMP/prom"
    cat >"$MX_TMP/prom/prometheus.yml" <<YML
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: mxtlsd
    static_configs: [{targets: ["127.0.0.1:$M_PORT"]}]
YML
    prometheus --config.file="$MX_TMP/prom/prometheus.yml" --storage.tsdb.path="$MX_TMP/prom/data" \
        --web.listen-address="127.0.0.1:$P_PORT" >"$MX_TMP/prometheus.log" 2>&1 </dev/null &
    P_PID=$!
    MX_PIDS+=("$P_PID")
    got=
    for ((i = 0; i < 150; i++)); do
        got=$(curl -s "http://127.0.0.1:$P_PORT/api/v1/query?query=sum(mxtlsd_requests_total)" |
            python3 -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null || true)
        [ -n "$got" ] && break
        sleep 0.2
    done
    check "d: Prometheus scraped mxtlsd: sum(mxtlsd_requests_total) is 4" "$got" 4
    up=$(curl -s "http://127.0.0.1:$P_PORT/api/v1/query?query=up" | python3 -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null || true)
    check "d: and saw it up" "$up" 1
    kill -TERM "$P_PID" 2>/dev/null || true
    wait "$P_PID" 2>/dev/null || true
else
    ok "d: # SKIP prometheus is not installed"
fi
stop_pid "$M_PID" || true

# --- e: loopback only; off by default
mx_config "$MX_TMP/bad.yml" "$MX_PORT" "$MX_TMP/bad.db" "metrics: {host: 0.0.0.0, port: $M_PORT}"
rc=0
res=$("$MXTLSD" -c "$MX_TMP/bad.yml" --check-config 2>&1) || rc=$?
check "e: metrics.host 0.0.0.0: --check-config exits 78" "$rc" 78
has "e: and names the key" "$res" 'metrics.host: 0.0.0.0 is not a loopback address'
mx_config "$MX_TMP/off.yml" "$MX_PORT" "$MX_TMP/off.db"
mx_start off "$MX_TMP/off.yml"
expect_fail "e: without metrics nothing listens on $M_PORT" port_busy "$M_PORT"
stop_pid "$MX_LAST_PID" || true

done_testing

#!/bin/bash
# sts_harden.sh - issue 17 on mxtlsd's MTA-STS side, through the real
# Postfix client (postmap -q), on the testbed (slot 24, TESTBED_SLOT to
# change it). The scenario is scenarios/sts_harden.scn plus generated lines.
#
#   item 2   the `_mta-sts` record exists but OUR resolver fails the policy
#            host lookup (SERVFAIL: mta-sts.<d> leads into a lame zone):
#            TEMP, and again on the next request (no 5-minute back-off),
#            with one warning; with sts_resolver_failure_temp: 0 NOTFOUND
#            (RFC 8461 §3.3) at once, with 2 NOTFOUND once 2 s are over;
#            an NXDOMAIN policy host (authoritative) stays NOTFOUND
#   item 9   policies with 129 and 3,000 mx lines are applied in full; with
#            TLSRPT attributes the 3,000-line reply exceeds Postfix's
#            100000-octet socketmap limit: TEMP, never a shorter policy
#   item 10  99 junk TXT records + 1 valid: the policy, for six domains;
#            two valid records among 100: NOTFOUND (RFC 8461 §3.1), for four
#
# usage: sts_harden.sh MXTLSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: sts_harden.sh MXTLSD}
export TESTBED_SLOT=${TESTBED_SLOT:-24}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/mxtlsd_lib.sh"
[ -x "$MXTLSD" ] || { echo "not ok - mxtlsd binary $MXTLSD is not built"; exit 1; }

# free_port: a TCP port nothing listens on, from this slot's range
free_port() {
    local p
    for p in $(seq $((18500 + 10 * TESTBED_SLOT)) $((18509 + 10 * TESTBED_SLOT))); do
        port_busy "$p" || { echo "$p"; return 0; }
    done
    echo "no free port" >&2
    return 1
}

# ---------------------------------------------------------------- scenario
gen=$(mktemp /tmp/mxtls-sts-harden-XXXXXX.scn)
trap 'rm -f "$gen"' EXIT
{
    cat "$here/scenarios/sts_harden.scn"
    echo "policy m129.harden.test version: STSv1"
    echo "policy m129.harden.test mode: enforce"
    echo "policy m129.harden.test mx: mx.harden.test"
    for i in $(seq 1 128); do echo "policy m129.harden.test mx: a$i.x.test"; done
    echo "policy m129.harden.test max_age: 86400"
    echo "policy m3000.harden.test version: STSv1"
    echo "policy m3000.harden.test mode: enforce"
    echo "policy m3000.harden.test mx: mx.harden.test"
    for i in $(seq 1 2999); do echo "policy m3000.harden.test mx: a$i.x.test"; done
    echo "policy m3000.harden.test max_age: 86400"
    for d in t1 t2 t3 t4 t5 t6 d1 d2 d3 d4; do
        echo "mx $d.harden.test 10 mx.harden.test"
        echo "sts $d.harden.test"
        for i in $(seq 1 100); do
            case $d:$i in
            t*:100) echo "txt _mta-sts.$d.harden.test \"v=STSv1; id=valid$i\"" ;;
            d*:10 | d*:90) echo "txt _mta-sts.$d.harden.test \"v=STSv1; id=valid$i\"" ;;
            *) echo "txt _mta-sts.$d.harden.test \"site-verification=junk-$d-$i\"" ;;
            esac
        done
    done
} >"$gen"
mx_setup "$gen"
rm -f "$gen"

# ---------------------------------------------------------------- item 9, 10, 2
port=$(free_port)
cfg=$MX_TMP/main.yml
mx_config "$cfg" "$port" "$MX_TMP/main.db" "  rpt:" "    tlsrpt: true" "cache_grace: 3600"
mx_start main "$cfg"
log=$MX_TMP/main.log

# item 9: every pattern, in the policy's order
want=$(printf 'mx.harden.test'; for i in $(seq 1 128); do printf ':a%d.x.test' "$i"; done)
expect_reply "item 9: 129 mx lines -> all 129 patterns (RFC 8461 §3.3: only 64 KiB caps a policy)" \
    "$(q default m129.harden.test "$port")" "secure match=$want servername=hostname"
got=$(q default m3000.harden.test "$port")
want=$(printf 'mx.harden.test'; for i in $(seq 1 2999); do printf ':a%d.x.test' "$i"; done)
expect_reply "item 9: 3,000 mx lines -> all 3,000 patterns (a ${#got}-octet reply)" \
    "$got" "secure match=$want servername=hostname"
expect_reply "item 9: 3,000 mx lines with tlsrpt -> over Postfix's 100000-octet reply limit: TEMP, not less" \
    "$(q rpt m3000.harden.test "$port")" TEMP

# item 10: all 100 records considered, whatever order they come in
for d in t1 t2 t3 t4 t5 t6; do
    expect_reply "item 10: $d: 99 junk TXT + 1 valid (the 100th) -> the policy (RFC 8461 §3.1)" \
        "$(q default $d.harden.test "$port")" "secure match=mx.harden.test servername=hostname"
done
for d in d1 d2 d3 d4; do
    expect_reply "item 10: $d: two valid STSv1 records among 100 -> no policy (RFC 8461 §3.1)" \
        "$(q default $d.harden.test "$port")" NOTFOUND
done

# item 2: our resolver fails mta-sts.<d>: TEMP, retried on the next request
expect_reply "item 2: record published, our resolver SERVFAILs mta-sts.rf -> TEMP" \
    "$(q default rf.harden.test "$port")" TEMP
expect_reply "item 2: asked again at once -> TEMP again, not the 5-minute NOTFOUND" \
    "$(q default rf.harden.test "$port")" TEMP
n=$(grep -c 'rf.harden.test: publishes an MTA-STS record (id 1) but our resolver failed' "$log" || true)
check "item 2: logged once for the episode" "$n" 1
if grep 'rf.harden.test: publishes an MTA-STS record' "$log" | grep -qi 'warn'; then
    ok "item 2: the line is a warning"
else
    not_ok "item 2: the line is a warning"
fi
expect_reply "item 2: NXDOMAIN policy host (authoritative) -> NOTFOUND as before (RFC 8461 §3.3)" \
    "$(q default nx.harden.test "$port")" NOTFOUND
stop_pid "$MX_LAST_PID" >/dev/null || true

# sts_resolver_failure_temp: 0 -> what RFC 8461 §3.3 says at once
port=$(free_port)
mx_config "$MX_TMP/off.yml" "$port" "$MX_TMP/off.db" "sts_resolver_failure_temp: 0"
mx_start off "$MX_TMP/off.yml"
expect_reply "item 2: sts_resolver_failure_temp 0 -> NOTFOUND at once (RFC 8461 §3.3)" \
    "$(q default rf0.harden.test "$port")" NOTFOUND
stop_pid "$MX_LAST_PID" >/dev/null || true

# sts_resolver_failure_temp: 2 -> TEMP, then after 2 s what the RFC says
port=$(free_port)
mx_config "$MX_TMP/short.yml" "$port" "$MX_TMP/short.db" "sts_resolver_failure_temp: 2"
mx_start short "$MX_TMP/short.yml"
expect_reply "item 2: sts_resolver_failure_temp 2, first failure -> TEMP" \
    "$(q default rf2.harden.test "$port")" TEMP
sleep 3
expect_reply "item 2: sts_resolver_failure_temp 2, 3 s later -> NOTFOUND (RFC 8461 §3.3)" \
    "$(q default rf2.harden.test "$port")" NOTFOUND
expect_reply "item 2: ... and the §3.3 back-off holds from then on" \
    "$(q default rf2.harden.test "$port")" NOTFOUND
stop_pid "$MX_LAST_PID" >/dev/null || true

done_testing

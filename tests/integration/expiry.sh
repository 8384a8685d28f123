#!/bin/bash
# expiry.sh - a cached MTA-STS policy outlives a failing policy host until its
# max_age, and no longer (RFC 8461 §3.2 max_age, §3.3, §5.1), with the clock
# moved by libfaketime, not by a switch in the product.
#
# Testbed: scenarios/policy.scn, slot 2 unless TESTBED_SLOT says otherwise.
# Only mxtlsd runs under libfaketime (LD_PRELOAD, FAKETIME_TIMESTAMP_FILE
# rewritten to move its clock while it runs, FAKETIME_NO_CACHE=1,
# DONT_FAKE_MONOTONIC=1 so only the wall clock jumps and its timers keep
# their meaning). libunbound runs inside mxtlsd and so validates RRSIG times
# against the faked clock, and libcurl checks certificate times against it:
# the testbed signs zones for 30 days from now (testbed.py sign) and issues
# certificates for 365 days from now (make_cert), and the largest jump here is
# 2 days and 10 minutes; the script checks both windows first.
#
#   t0          expire.dyn.test fetched: enforce, max_age 86400, cached
#               then: its policy host answers 404, its TXT id changes
#   t0 + 1 h    cached policy applies (the re-fetch fails)       RFC 8461 §3.3
#   t0 + 2 d    expired: NOTFOUND                                §3.2 max_age, §5.1
#               control: a fresh fetch of another domain (signed
#               zone) still works at this time
#   t0 + 2 d 10 min, policy host back with new content: the new policy
#
# Then proactive refresh (RFC 8461 §5.1: senders SHOULD refresh a cached
# policy before it expires; DESIGN: refetch past half its max_age even when
# the id is unchanged), with a second mxtlsd (proactive_policy_fetching every
# 2 s, cache_grace 1 day so that a query never re-checks the TXT record
# itself) and the clock back at t0:
#   t0          renew.dyn.test fetched (v1: mx.renew..., max_age 86400);
#               then new content (mx2.renew...) under the same id: two
#               rounds pass, a query still gets v1 (young policy, same id:
#               no fetch)
#   t0 + 13 h   two rounds pass with no query; then the policy host fails.
#               A query gets the new content: only the background renewal
#               can have fetched it
#               then the TXT id changes, the policy host still failing: the
#               next round's fetch fails, a warning is logged, the cached
#               policy still applies
#
# usage: expiry.sh MXTLSD | --peer (mta-sts-daemon, to check the test)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: expiry.sh MXTLSD | --peer}
export TESTBED_SLOT=${TESTBED_SLOT:-2}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/mxtlsd_lib.sh"
scn=$here/scenarios/policy.scn
MX_PORT=$((18501 + 10 * TESTBED_SLOT))
faketime_lib=${FAKETIME_LIB:-/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1}
DAY=86400
BIGGEST_JUMP=$((2 * DAY + 600))

if [ "$MXTLSD" != --peer ] && [ ! -x "$MXTLSD" ]; then
    echo "not ok - mxtlsd binary $MXTLSD is not built"
    exit 1
fi
if [ ! -r "$faketime_lib" ]; then
    echo "not ok - libfaketime ($faketime_lib) is installed (Debian package libfaketime)"
    exit 1
fi

mx_setup "$scn"
clock=$MX_TMP/faketime
# move_clock OFFSET: mxtlsd's wall clock is real time + OFFSET seconds
move_clock() {
    echo "+$1" >"$clock.new"
    mv -f "$clock.new" "$clock"
}
move_clock 0

# the faked clock stays inside the testbed's validity windows
now=$(date -u +%s)
limit=$(date -u -d "@$((now + BIGGEST_JUMP))" +%Y%m%d%H%M%S)
rrsig=$(dig +dnssec +norec +time=2 +tries=1 @"$TESTBED_NSD_ADDR" SOA test |
    awk '$4 == "RRSIG" && $5 == "SOA" { print $9 }')
if [ -n "$rrsig" ] && [[ $rrsig > $limit ]]; then
    ok "test. signatures expire at $rrsig, after the biggest jump (+$BIGGEST_JUMP s)"
else
    not_ok "test. signatures ('$rrsig') outlive the biggest jump ($limit)"
fi
for h in mta-sts.expire.dyn.test mta-sts.enforce.sec.test; do
    expect "certificate of $h still valid at +$BIGGEST_JUMP s" \
        openssl x509 -noout -in "$TESTBED_DIR/certs/$h.pem" -checkend "$BIGGEST_JUMP"
done

# shellcheck disable=SC2034 # read by mx_start/peer_start in mxtlsd_lib.sh
MX_ENV=(LD_PRELOAD="$faketime_lib" FAKETIME_TIMESTAMP_FILE="$clock"
    FAKETIME_NO_CACHE=1 DONT_FAKE_MONOTONIC=1)
# An ASan build (CI) wants its runtime first among the loaded libraries; a
# preloaded libfaketime comes before it, which is harmless here: let it run.
if [ -n "${ASAN_OPTIONS+x}" ] || ldd "$MXTLSD" 2>/dev/null | grep -q libasan; then
    MX_ENV+=(ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
fi
cfg=$MX_TMP/mxtlsd.yml
mx_config "$cfg" "$MX_PORT" "$MX_TMP/cache.db" "cache_grace: 1"
if [ "$MXTLSD" = --peer ]; then
    peer_start mta-sts-daemon "$cfg" "$MX_PORT"
else
    mx_start mxtlsd "$cfg"
fi

sec() { echo "secure match=$1 servername=hostname"; }

got=$(q postfix expire.dyn.test)
expect_reply "t0: expire.dyn.test fetched and cached (max_age 86400)" "$got" "$(sec mx.expire.dyn.test)"

fail_policy expire.dyn.test
set_txt _mta-sts.expire.dyn.test "v=STSv1; id=v2"
dns_reload
sleep 2 # past cache_grace and the TXT TTL in real time too

move_clock 3600
got=$(q postfix expire.dyn.test)
expect_reply "t0+1h: new id, policy host 404 -> cached policy  [RFC 8461 §3.3: a valid cached policy applies]" \
    "$got" "$(sec mx.expire.dyn.test)"
got=$(q postfix enforce.sts.test)
expect_reply "t0+1h: control: a fresh fetch works" \
    "$got" "$(sec mx1.enforce.sts.test:.wild.sts.test)"

move_clock $((2 * DAY))
sleep 1.5
got=$(q postfix expire.dyn.test)
expect_reply "t0+2d: cached policy past max_age -> NOTFOUND  [RFC 8461 §3.2 max_age, §5.1: an expired policy no longer applies]" \
    "$got" NOTFOUND
got=$(q postfix enforce.sec.test)
expect_reply "t0+2d: control: a fresh fetch in a signed zone works (RRSIGs, certificates valid)" \
    "$got" "$(sec mx.enforce.sec.test)"

set_policy expire.dyn.test "version: STSv1" "mode: enforce" "mx: mx3.expire.dyn.test" "max_age: 86400"
move_clock $((2 * DAY + 600))
sleep 1.5
got=$(q postfix expire.dyn.test)
expect_reply "t0+2d+10min: policy host back -> the new policy  [RFC 8461 §3.3; DESIGN: failed fetches are retried after 5 minutes]" \
    "$got" "$(sec mx3.expire.dyn.test)"

# ---------------------------------------------------------------- proactive refresh
if [ "$MXTLSD" = --peer ]; then
    done_testing
    exit
fi
stop_pid "$MX_LAST_PID" || true
move_clock 0
cfg2=$MX_TMP/mxtlsd-proactive.yml
mx_config "$cfg2" "$MX_PORT" "$MX_TMP/cache-proactive.db" "cache_grace: $DAY" \
    "proactive_policy_fetching:" "  enabled: true" "  interval: 2" "  grace_ratio: 2" \
    "  concurrency_limit: 4"
mx_start mxtlsd-proactive "$cfg2"
plog=$MX_TMP/mxtlsd-proactive.log

got=$(q postfix renew.dyn.test)
expect_reply "proactive t0: renew.dyn.test fetched (v1, max_age 86400)" "$got" "$(sec mx.renew.dyn.test)"

# wait_rounds N: N proactive rounds that queued work finish from now on
rounds() { grep -c 'proactive refresh: [1-9][0-9]* cached' "$plog" || true; }
wait_rounds() {
    local before i
    before=$(rounds)
    for ((i = 0; i < 200; i++)); do
        [ "$(rounds)" -ge $((before + $1)) ] && break
        sleep 0.1
    done
    expect "proactive: $1 refresh rounds ran" test "$(rounds)" -ge $((before + $1))
}
set_policy renew.dyn.test "version: STSv1" "mode: enforce" "mx: mx2.renew.dyn.test" "max_age: 86400"
wait_rounds 2
got=$(q postfix renew.dyn.test)
expect_reply "proactive t0: content changed, same id, policy young -> still v1 (no fetch)  [RFC 8461 §3.3: fetch when the id changed]" \
    "$got" "$(sec mx.renew.dyn.test)"

move_clock $((13 * 3600))
wait_rounds 3
fail_policy renew.dyn.test
got=$(q postfix renew.dyn.test)
expect_reply "proactive t0+13h: renewed past half max_age in the background (the policy host now fails)  [RFC 8461 §5.1 proactive refresh]" \
    "$got" "$(sec mx2.renew.dyn.test)"

set_txt _mta-sts.renew.dyn.test "v=STSv1; id=v3"
dns_reload
warn='warning: renew.dyn.test: refreshing the cached MTA-STS policy (id v1, mode enforce) failed'
for ((i = 0; i < 200; i++)); do
    grep -qF "$warn" "$plog" && break
    sleep 0.1
done
expect "proactive: a failed refresh of the cached enforce policy is logged as a warning" \
    grep -qF "$warn" "$plog"
got=$(q postfix renew.dyn.test)
expect_reply "proactive: refresh failed, the cached policy still applies  [RFC 8461 §3.3]" \
    "$got" "$(sec mx2.renew.dyn.test)"

done_testing

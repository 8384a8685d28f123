#!/bin/bash
# shared_cache.sh - two mxtlsd on ONE SQLite cache file (issue 18: the
# cache backend seam; the read path goes to the backend on a miss, so a
# backend shared by several daemons is read, not just written). On the
# testbed (slot 36 unless TESTBED_SLOT says otherwise), nginx serving the
# policies and its access log counting the fetches:
#
#   1  daemon A answers one.sts.test `secure match=...` with one fetch, and
#      its write-behind puts the row in the file;
#   2  daemon B, started before A's fetch (its startup load did not see
#      the row) and asked the same domain (a miss in its memory), answers the same `secure match=...` with zero further
#      fetches: it read the row from the shared file (its log says so);
#   3  a corrupt row for two.sts.test written into the file while both run
#      is absent for B (logged, counted): B fetches the policy (one fetch)
#      and answers secure, never the corrupt text.
#
# usage: shared_cache.sh MXTLSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: shared_cache.sh MXTLSD}
export TESTBED_SLOT=${TESTBED_SLOT:-36}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/mxtlsd_lib.sh"

if [ ! -x "$MXTLSD" ]; then echo "not ok - mxtlsd binary $MXTLSD is not built"; exit 1; fi
mx_setup "$here/scenarios/shared_cache.scn"

ONE='secure match=mx.one.sts.test servername=hostname'
TWO='secure match=mx.two.sts.test servername=hostname'
access=$TESTBED_DIR/log/nginx-access.log

# fetches: policy fetches nginx has served so far (every domain)
fetches() { grep -c 'GET /.well-known/mta-sts.txt' "$access" 2>/dev/null || true; }

# row DB DOMAIN: the id of DOMAIN's row in the cache file, "" when none
row() {
    python3 -c '
import sqlite3, sys
try:
    r = sqlite3.connect(sys.argv[1], timeout=30).execute(
        "select id from sts_policy where domain = ?", (sys.argv[2],)).fetchone()
    print(r[0] if r else "")
except sqlite3.Error:
    print("")' "$1" "$2"
}

# wait_row DB DOMAIN SECONDS: until DOMAIN has a row in the file
wait_row() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        [ -n "$(row "$1" "$2")" ] && return 0
        sleep 0.1
    done
    return 1
}

db=$MX_TMP/cache.db
port_a=$(free_port $((18500 + 10 * TESTBED_SLOT)))
mx_config "$MX_TMP/a.yml" "$port_a" "$db"
mx_start a "$MX_TMP/a.yml"
pid_a=$MX_LAST_PID
# B starts now, on the same file, while it holds no policy: what B later
# knows of one.sts.test can only come from reading the file on a miss
port_b=$(free_port $((port_a + 1)))
mx_config "$MX_TMP/b.yml" "$port_b" "$db"
mx_start b "$MX_TMP/b.yml"
pid_b=$MX_LAST_PID

# ---------------------------------------------------------------- 1: A fetches
f0=$(fetches)
got=$(q postfix one.sts.test "$port_a")
expect_reply "A answers one.sts.test secure" "$got" "$ONE"
f1=$(fetches)
check "A fetched the policy once" "$((f1 - f0))" 1
if wait_row "$db" one.sts.test 10; then
    ok "A's policy for one.sts.test is in the shared file"
else
    not_ok "A's policy for one.sts.test is in the shared file"
fi

# ---------------------------------------------------------------- 2: B reads it
f1=$(fetches)
got=$(q postfix one.sts.test "$port_b")
expect_reply "B answers one.sts.test with A's policy" "$got" "$ONE"
f2=$(fetches)
check "B fetched nothing for one.sts.test" "$((f2 - f1))" 0
if grep -q 'one.sts.test: MTA-STS policy id one20261202 read from the cache store' \
    "$MX_TMP/b.log"; then
    ok "B's log says it read the policy from the cache store"
else
    not_ok "B's log says it read the policy from the cache store"
fi

# ---------------------------------------------------------------- 3: a corrupt row
python3 - "$db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30)
c.execute("insert or replace into sts_policy values (?, ?, strftime('%s','now'), "
          "strftime('%s','now'), 0, ?)",
          ("two.sts.test", "two20261202", "version: STSv1\nmode: none-of-these\n"))
c.commit()
PY
f2=$(fetches)
got=$(q postfix two.sts.test "$port_b")
expect_reply "B answers two.sts.test secure despite the corrupt row" "$got" "$TWO"
f3=$(fetches)
check "B fetched two.sts.test once (the corrupt row is absent)" "$((f3 - f2))" 1
if grep -q 'invalid record for two.sts.test ignored' "$MX_TMP/b.log"; then
    ok "B logged the invalid record"
else
    not_ok "B logged the invalid record"
fi

for pid in "$pid_b" "$pid_a"; do
    rc=0
    stop_pid "$pid" || rc=$?
    check "mxtlsd pid $pid stopped cleanly" "$rc" 0
done
done_testing

#!/bin/bash
# cache_admin.sh - `mxtls cache list|show|purge|export` (issue 16 §2)
# against a running mxtlsd's control socket, on scenarios/cache_admin.scn
# (slot 54 unless TESTBED_SLOT says otherwise), mxtlsd on a free port of
# 127.0.0.1 with a SQLite store:
#
#   1. list on an empty cache: the header only (table), nothing (--json), exit 0;
#   2. after Postfix's requests fetched both policies: list --json gives one
#      JSON object per policy with domain, mode, id, max_age, fetched_at,
#      checked_at, expires_at (= fetched_at + max_age); the table lists both;
#   3. show DOMAIN: the policy text, fetched_from, since when; show of an
#      unknown domain exits 1 with a message;
#   4. export: only the enforce policy, a texthash: line that `postmap -q
#      DOMAIN texthash:FILE` answers with exactly the daemon's socketmap answer;
#   5. purge: an enforce policy is refused without --force (exit 2, nothing
#      dropped, no fetch); with --force it is gone from show, from the store
#      file, and the next request fetches it again (one more GET in nginx's
#      access log) and answers the same; a testing policy is purged without
#      --force; purge of an unknown domain exits 1;
#   6. over loopback TCP (control.host/port) list works the same;
#   7. mxtlsd not running: exit 3, "is mxtlsd running?"; each mxtlsd
#      stopped with exit 0 (under the sanitizers: no leak report).
#
# usage: cache_admin.sh MXTLSD MXTLS
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: cache_admin.sh MXTLSD MXTLS}
MXTLS=${2:?usage: cache_admin.sh MXTLSD MXTLS}
export TESTBED_SLOT=${TESTBED_SLOT:-54}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/mxtlsd_lib.sh"
ENF="secure match=mx.enf.sts.test:.mail.enf.sts.test servername=hostname"

for b in "$MXTLSD" "$MXTLS"; do
    if [ ! -x "$b" ]; then echo "not ok - binary $b is not built"; exit 1; fi
done
mx_setup "$here/scenarios/cache_admin.scn"
access=$TESTBED_DIR/log/nginx-access.log

# fetches: policy fetches nginx has served so far (every domain)
fetches() { grep -c 'GET /.well-known/mta-sts.txt' "$access" 2>/dev/null || true; }

# mc ARGS...: mxtls cache -c CFG ARGS; sets C_OUT, C_ERR, C_RC
mc() {
    C_RC=0
    C_OUT=$("$MXTLS" cache -c "$CFG" -t 20 "$@" 2>"$MX_TMP/c.err") || C_RC=$?
    C_ERR=$(cat "$MX_TMP/c.err")
}

# rc_is WHAT WANT: mc's exit status is WANT (its stderr shown when not)
rc_is() {
    check "$1" "$C_RC" "$2"
    [ "$C_RC" = "$2" ] || printf '%s\n' "$C_ERR" | sed 's/^/  # stderr: /' | head -n 20
}

# row DOMAIN: the id of DOMAIN's row in the store file, "" when none
row() {
    python3 -c '
import sqlite3, sys
try:
    r = sqlite3.connect(sys.argv[1], timeout=30).execute(
        "select id from sts_policy where domain = ?", (sys.argv[2],)).fetchone()
    print(r[0] if r else "")
except sqlite3.Error:
    print("")' "$DB" "$1"
}

# wait_row DOMAIN WANT: until DOMAIN's row id is WANT ("" = no row), 10 s at most
wait_row() {
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(row "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

DB=$MX_TMP/cache.db
CFG=$MX_TMP/a.yml
MX_PORT=$(free_port)
mx_config "$CFG" "$MX_PORT" "$DB" "control: {path: $MX_TMP/control.sock}"
mx_start a "$CFG"
pid_a=$MX_LAST_PID

# ---------------------------------------------------------------- 1: empty
mc list
rc_is "1: list on an empty cache exits 0" 0
check "1: list on an empty cache prints the header only" "$(printf '%s\n' "$C_OUT" | wc -l)" 1
mc list --json
check "1: list --json on an empty cache prints nothing" "$C_OUT" ""

# ---------------------------------------------------------------- 2: list
f0=$(fetches)
expect_reply "2: mxtlsd answers enf.sts.test (fetched)" "$(q postfix enf.sts.test)" "$ENF"
expect_reply "2: mxtlsd answers tst.sts.test NOTFOUND (testing)" "$(q postfix tst.sts.test)" \
    NOTFOUND
check "2: two policy fetches" "$(($(fetches) - f0))" 2
mc list --json
rc_is "2: list --json exits 0" 0
res=$(python3 - "$C_OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines()]
keys = {"domain", "mode", "id", "max_age", "fetched_at", "checked_at", "expires_at"}
by = {r["domain"]: r for r in rows}
ok = (len(rows) == 2 and all(set(r) == keys for r in rows)
      and by["enf.sts.test"]["mode"] == "enforce" and by["enf.sts.test"]["id"] == "enf20261202"
      and by["enf.sts.test"]["max_age"] == 86400
      and by["tst.sts.test"]["mode"] == "testing" and by["tst.sts.test"]["max_age"] == 604800
      and all(r["expires_at"] == r["fetched_at"] + r["max_age"] for r in rows)
      and all(r["fetched_at"] > 0 and r["checked_at"] >= r["fetched_at"] for r in rows))
print("ok" if ok else "bad: " + sys.argv[1])
PY
)
check "2: list --json: one object per policy, its members and values" "$res" ok
mc list
printf '%s\n' "$C_OUT" | sed 's/^/# /'
has "2: the table lists enf.sts.test as enforce" "$C_OUT" '^enf\.sts\.test +enforce +enf20261202 +86400 '
has "2: the table lists tst.sts.test as testing" "$C_OUT" '^tst\.sts\.test +testing +tst20261202 '

# ---------------------------------------------------------------- 3: show
mc show --json ENF.sts.test.
rc_is "3: show exits 0 (the name normalised)" 0
res=$(python3 - "$C_OUT" <<'PY'
import json, sys
o = json.loads(sys.argv[1])
ok = (o["domain"] == "enf.sts.test" and "mode: enforce" in o["policy"]
      and "mx: *.mail.enf.sts.test" in o["policy"]
      and o["fetched_from"] == "https://mta-sts.enf.sts.test/.well-known/mta-sts.txt"
      and o["mx"] == ["mx.enf.sts.test", "*.mail.enf.sts.test"] and o["failed_at"] == 0
      and o["fetched_at"] > 0)
print("ok" if ok else "bad: " + sys.argv[1])
PY
)
check "3: show --json: the policy text, where and when it was fetched" "$res" ok
mc show enf.sts.test
has "3: show's text has the policy file" "$C_OUT" '^  mode: enforce$'
has "3: show's text has the fetch" "$C_OUT" 'fetched .* from https://mta-sts\.enf\.sts\.test/'
mc show nosuch.sts.test
rc_is "3: show of an unknown domain exits 1" 1
has "3: ... saying so" "$C_ERR" 'no MTA-STS policy cached for nosuch\.sts\.test'

# ---------------------------------------------------------------- 4: export
mc export
rc_is "4: export exits 0" 0
printf '%s\n' "$C_OUT" >"$MX_TMP/fallback"
printf '%s\n' "$C_OUT" | sed 's/^/# export: /'
check "4: export holds only the enforce policy" "$C_OUT" "enf.sts.test $ENF"
got=$(postmap -c "$MX_PFDIR" -q enf.sts.test "texthash:$MX_TMP/fallback" 2>&1) || true
check "4: postmap -q texthash: gives the daemon's socketmap answer" "$got" "$(q postfix enf.sts.test)"

# ---------------------------------------------------------------- 5: purge
wait_row enf.sts.test enf20261202 || not_ok "5: enf.sts.test is in the store file"
f1=$(fetches)
mc purge enf.sts.test
rc_is "5: purge of an enforce policy without --force exits 2" 2
has "5: ... saying why (RFC 8461 §5.1)" "$C_ERR" 'unprotected until it is fetched again'
mc show enf.sts.test
rc_is "5: the refused purge dropped nothing" 0
mc purge --force enf.sts.test
rc_is "5: purge --force exits 0" 0
has "5: ... and says what it dropped" "$C_OUT" '^purged enf\.sts\.test \(mode enforce, id enf20261202\)'
mc show enf.sts.test
rc_is "5: after purge, show exits 1" 1
if wait_row enf.sts.test ""; then ok "5: the store file lost enf.sts.test's row"; else
    not_ok "5: the store file lost enf.sts.test's row"
fi
check "5: no fetch yet" "$(($(fetches) - f1))" 0
expect_reply "5: the next request answers the same" "$(q postfix enf.sts.test)" "$ENF"
check "5: ... after fetching the policy again" "$(($(fetches) - f1))" 1
mc show enf.sts.test
rc_is "5: show finds the re-fetched policy" 0
mc purge tst.sts.test
rc_is "5: purge of a testing policy needs no --force" 0
mc purge nosuch.sts.test
rc_is "5: purge of an unknown domain exits 1" 1
has "5: ... saying so" "$C_ERR" 'no MTA-STS policy cached for nosuch\.sts\.test'
mc purge 'bad..name'
rc_is "5: a malformed DOMAIN is a usage error" 64

# ---------------------------------------------------------------- 6: TCP
rc=0
stop_pid "$pid_a" || rc=$?
check "6: mxtlsd a stopped cleanly (exit 0; no sanitizer report)" "$rc" 0
CPORT=$(free_port $((MX_PORT + 1)))
mx_config "$CFG" "$MX_PORT" "$DB" "control: {host: 127.0.0.1, port: $CPORT}"
mx_start b "$CFG"
pid_b=$MX_LAST_PID
mc list --json
rc_is "6: list over loopback TCP exits 0" 0
has "6: ... and lists the policy the store kept" "$C_OUT" '"domain":"enf\.sts\.test"'

# ---------------------------------------------------------------- 7: no daemon
rc=0
stop_pid "$pid_b" || rc=$?
check "7: mxtlsd b stopped cleanly" "$rc" 0
mc list
rc_is "7: mxtlsd not running: exit 3" 3
has "7: ... saying so" "$C_ERR" 'cannot connect to mxtlsd at 127\.0\.0\.1:[0-9]+.*is mxtlsd running\?'
mx_config "$MX_TMP/u.yml" "$MX_PORT" "$DB" "control: {path: $MX_TMP/gone.sock}"
C_RC=0
"$MXTLS" cache -c "$MX_TMP/u.yml" show enf.sts.test 2>"$MX_TMP/c.err" >/dev/null || C_RC=$?
rc_is "7: no control socket file: exit 3" 3
has "7: ... saying so" "$(cat "$MX_TMP/c.err")" 'gone\.sock.*is mxtlsd running\?'

done_testing

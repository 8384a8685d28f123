#!/bin/bash
# tlsrpt_collect.sh - `mxtls tlsrpt collect` reading logs (issue 12), on the
# real Postfix 3.7 and mxtlsd log lines of the e2e suite
# (tests/e2e/data/tlsrpt). No testbed. Checks:
#   - a log read in two runs (the second after lines were appended) gives
#     the same store as one run over the whole log: the position is
#     remembered, nothing counted twice or lost;
#   - a partial last line is counted once, after it is completed;
#   - --follow: lines appended, then the log rotated (renamed, a new file at
#     the path), then truncated and rewritten: every line counted once;
#     SIGTERM ends it with exit 0 and the position saved;
#   - standard input; a malformed policy record and a 20 KiB line are
#     counted (malformed, too long), never fatal.
#
# usage: tlsrpt_collect.sh MXTLS
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLS=${1:?usage: tlsrpt_collect.sh MXTLS}
data=$here/data/tlsrpt
fails=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; fails=$((fails + 1)); }
check() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; echo "  # got:  '$2'"; echo "  # want: '$3'"; fi; }
command -v sqlite3 >/dev/null || { echo "not ok - sqlite3 is installed"; exit 1; }

T=$(mktemp -d /tmp/mxtls-tlsrpt-collect-XXXXXX)
follow_pid=
cleanup() {
    if [ -n "$follow_pid" ] && kill -0 "$follow_pid" 2>/dev/null; then
        kill -TERM "$follow_pid" 2>/dev/null || true
        wait "$follow_pid" 2>/dev/null || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT

# dump DB: the store's counts and failure details, sorted
dump() {
    sqlite3 "$1" "SELECT day, domain, type, success, failure FROM counts ORDER BY 1, 2, 3;
        SELECT day, domain, result, mx_host, ip, reason, n FROM failures ORDER BY 1, 2, 3, 4, 5, 6"
}
total() { sqlite3 "$1" "SELECT coalesce(sum(success + failure), 0) FROM counts"; }

cp "$data/mxtlsd.log" "$T/mxtlsd.log"
"$MXTLS" tlsrpt collect --db "$T/whole.db" "$T/mxtlsd.log" "$data/maillog" >/dev/null
want=$(dump "$T/whole.db")
n=$(total "$T/whole.db")
check "one run over the whole log: 39 sessions" "$n" 39

# ---------------------------------------------------------------- two runs
lines=$(wc -l <"$data/maillog")
half=$((lines / 2))
head -n "$half" "$data/maillog" >"$T/maillog"
"$MXTLS" tlsrpt collect --db "$T/two.db" "$T/mxtlsd.log" "$T/maillog" >/dev/null
tail -n +"$((half + 1))" "$data/maillog" >>"$T/maillog"
out=$("$MXTLS" tlsrpt collect --db "$T/two.db" "$T/mxtlsd.log" "$T/maillog")
check "second run reads only the appended $((lines - half)) lines" \
    "$(sed -nE 's/^collect: ([0-9]+) lines.*/\1/p' <<<"$out")" "$((lines - half))"
check "two runs give the same store as one" "$(dump "$T/two.db")" "$want"

# ---------------------------------------------------------------- a partial line
head -c -40 "$data/maillog" >"$T/partial"
"$MXTLS" tlsrpt collect --db "$T/partial.db" "$T/mxtlsd.log" "$T/partial" >/dev/null
tail -c 40 "$data/maillog" >>"$T/partial"
"$MXTLS" tlsrpt collect --db "$T/partial.db" "$T/mxtlsd.log" "$T/partial" >/dev/null
check "a line completed after a run is counted once" "$(dump "$T/partial.db")" "$want"

# ---------------------------------------------------------------- stdin
cat "$T/mxtlsd.log" "$data/maillog" | "$MXTLS" tlsrpt collect --db "$T/stdin.db" - >/dev/null
check "standard input" "$(dump "$T/stdin.db")" "$want"

# ---------------------------------------------------------------- --follow
# wait_total DB N: poll (10 s at most) until the store holds N sessions
wait_total() {
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(total "$1" 2>/dev/null || echo 0)" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
a=$((lines / 3))
b=$((2 * lines / 3))
head -n "$a" "$data/maillog" >"$T/flog"
"$MXTLS" tlsrpt collect --db "$T/follow.db" --follow "$T/mxtlsd.log" "$T/flog" \
    >"$T/follow.out" 2>&1 &
follow_pid=$!
# the expected totals at each step, from one-shot runs over the same lines
head -n "$a" "$data/maillog" >"$T/x1"
"$MXTLS" tlsrpt collect --db "$T/x1.db" "$T/mxtlsd.log" "$T/x1" >/dev/null
head -n "$b" "$data/maillog" >"$T/x2"
"$MXTLS" tlsrpt collect --db "$T/x2.db" "$T/mxtlsd.log" "$T/x2" >/dev/null
if wait_total "$T/follow.db" "$(total "$T/x1.db")"; then ok "--follow: the first third is counted"; else
    not_ok "--follow: the first third is counted ($(total "$T/follow.db") sessions)"; fi
# rotation: the old file gets lines after its rename, then a new file appears
mv "$T/flog" "$T/flog.1"
sed -n "$((a + 1)),$((b))p" "$data/maillog" >>"$T/flog.1"
: >"$T/flog"
if wait_total "$T/follow.db" "$(total "$T/x2.db")"; then
    ok "--follow: rotation: the renamed file is read to its end"
else
    not_ok "--follow: rotation: the renamed file is read to its end ($(total "$T/follow.db"))"
fi
# truncation of the new file after lines were read from it
head -n 5 "$data/maillog" >>"$T/flog"
sleep 1.5
: >"$T/flog"
tail -n +"$((b + 1))" "$data/maillog" >>"$T/flog"
if wait_total "$T/follow.db" "$n"; then ok "--follow: truncation: read again from the start"; else
    not_ok "--follow: truncation: read again from the start ($(total "$T/follow.db") of $n)"; fi
kill -TERM "$follow_pid"
rc=0
wait "$follow_pid" || rc=$?
follow_pid=
check "--follow stops on SIGTERM with exit 0" "$rc" 0
check "--follow: every line counted once across rotation and truncation" \
    "$(dump "$T/follow.db")" "$want"

# ---------------------------------------------------------------- bad input
{
    echo "2026-12-02T07:18:29.000Z mxtlsd[1]: info: tlsrpt-policy v1 nexthop=x.test type=bogus"
    printf 'Dec 02 07:18:29 sender postfix/smtp[1]: %s\n' "$(head -c 20000 /dev/zero | tr '\0' a)"
    head -c 3000 /dev/urandom | tr -d '\n\0'
    echo
} >"$T/bad"
rc=0
out=$("$MXTLS" tlsrpt collect --db "$T/bad.db" "$T/bad") || rc=$?
check "bad input: exit 0" "$rc" 0
check "bad input: 1 malformed policy record, 1 line too long" \
    "$(sed -nE 's/.* ([0-9]+) malformed, [0-9]+ own report mails, ([0-9]+) too long/\1 \2/p' <<<"$out")" \
    "1 1"

if [ "$fails" -gt 0 ]; then echo "# $fails check(s) failed"; exit 1; fi
echo "# all checks passed"

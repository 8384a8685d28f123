#!/bin/bash
# tlsrpt_ingest.sh - `mxtls tlsrpt ingest` and `mxtls tlsrpt summary --json`
# (issue 13): the TLS reports real senders mail, stored once, and the hostile
# ones refused with nothing stored. No testbed, no network.
#
#   tlsrpt_ingest.sh MXTLS
#
# Asserts:
#   - every shape in tests/integration/tlsrpt/ (our own data) is stored, exit
#     0, nothing on stderr: an RFC 8460 §4.4 report with extension members;
#     Microsoft-style TLSA policy-string holding a JSON-encoded array, times
#     without Z, report-id without <>, mx-host a string; the Mail.ru-style
#     details that disagree with the total (flagged), "mx: " prefixes, empty
#     sending-mta-ip, contact-info null; no-policy-found with +01:00 offsets;
#     gzip with a file name; an email multipart/report with an
#     application/tlsrpt+gzip part (76-column base64, CRLF); an email with a
#     .json attachment in one long base64 line; what the store holds for each
#     (quirk flags, NULLs, normalised names, policy strings);
#   - the same report again (file, other bracket spelling of the report-id,
#     other counts) is a duplicate: exit 0, stored once, summary unchanged;
#   - standard input ("-", as a Postfix pipe transport, with the From_ line
#     and headers pipe(8) adds) and --maildir;
#   - summary --json: policy_domains members exactly as mxtls(1) names them,
#     the sums, failure_types; --domain and --since select;
#   - hostile input, each refused with exit non-zero, exactly one stderr line
#     naming the input and its reason, the store byte-for-byte unchanged:
#     not JSON, missing members, negative / fractional / string counts, a
#     detail without result-type, 200,000-deep nesting, a 1 GiB gzip bomb
#     (peak RSS under 200 MiB), truncated gzip, trailing garbage after gzip,
#     an email without a report part, an input over 32 MiB, an empty input;
#   - a run mixing good and bad inputs stores the good, exits 65 and names
#     only the bad; an unreadable file exits 66; a store that cannot be used
#     exits 75 (EX_TEMPFAIL: Postfix keeps the message).
set -uo pipefail
MXTLS=${1:?usage: tlsrpt_ingest.sh MXTLS}
MXTLS=$(realpath "$MXTLS") || exit 1
DATA=$(cd "$(dirname "$0")/tlsrpt" && pwd)
T=$(mktemp -d /tmp/tlsrpt_ingest.XXXXXX)
trap 'rm -rf "$T"' EXIT
DB=$T/reports.db
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# ingest ARGS... - run ingest, keep stdout/stderr/rc in $T
ingest() {
    "$MXTLS" tlsrpt ingest --db "$DB" "$@" >"$T/out" 2>"$T/err"
    echo $? >"$T/rc"
}
rc() { cat "$T/rc"; }
sql() { python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("\n".join("|".join("" if v is None else str(v) for v in r) for r in c.execute(sys.argv[2])))' "$DB" "$1"; }
store_hash() { python3 -c 'import sqlite3,sys,hashlib; c=sqlite3.connect(sys.argv[1]); print(hashlib.sha256("\n".join(c.iterdump()).encode()).hexdigest())' "$DB"; }

# 1. every shape stored
for f in sts-two-failures.json tlsa-policy-string-json.json mismatch-prefix-emptyip.json \
    no-policy-found.json named.json.gz email-tlsrpt-gzip.eml email-json-attachment.eml; do
    ingest "$DATA/$f"
    if [ "$(rc)" = 0 ] && [ ! -s "$T/err" ]; then ok "stored $f"; else fail "$f: rc $(rc): $(cat "$T/err")"; fi
done
[ "$(sql 'select count(*) from report')" = 7 ] && ok "7 reports" || fail "reports: $(sql 'select count(*) from report')"

# what was stored, per shape (quirk bits: io/tlsrpt_report.h)
expect_sql() { # SQL EXPECTED WHAT
    local got
    got=$(sql "$1")
    [ "$got" = "$2" ] && ok "$3" || fail "$3: got [$got] want [$2]"
}
expect_sql "select report_id, quirks & 2 from report where org='Alpha Mail Relay'" \
    "20261120.1@alpha.example|2" "report-id <...>: brackets removed, flagged"
expect_sql "select quirks & (1|8|32), start_time from report where org='Beta Hosted Exchange'" \
    "41|1795219200" "Microsoft shape: no-Z time as UTC, JSON policy-string, mx-host string flagged"
expect_sql "select p.policy_string from policy p join report r on r.id=p.report where r.org='Beta Hosted Exchange'" \
    "3 1 1 8f4e7a2b9c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90
2 1 1 0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f" "TLSA policy-string: the inner strings"
expect_sql "select contact is null, quirks & (4|64|128|256) from report where org='Gamma Post'" \
    "1|452" "Mail.ru shape: contact-info null, mx: prefix, empty IP, mismatch flagged"
expect_sql "select p.mx_host, p.failed, p.details_failed, p.totals_mismatch from policy p join report r on r.id=p.report where r.org='Gamma Post'" \
    "mx1.rcpt-one.example
mx2.rcpt-one.example|7|5|1" "mismatch: total stored as sent (7), details sum (5) kept, flagged"
expect_sql "select count(*) from failure f join policy p on p.id=f.policy join report r on r.id=p.report where r.org='Gamma Post' and f.sending_mta_ip is null" \
    "2" "empty sending-mta-ip stored as NULL"
expect_sql "select policy_domain from policy p join report r on r.id=p.report where r.org='Alpha Mail Relay'" \
    "rcpt-one.example" "policy-domain lower case without the trailing dot"
expect_sql "select receiving_mx_hostname from failure where result_type='certificate-expired'" \
    "mx2.rcpt-one.example" "receiving-mx-hostname without the trailing dot"
expect_sql "select start_time, end_time from report where org='Delta Sender'" \
    "1795388400|1795474799" "+01:00 offsets applied, fraction dropped"
expect_sql "select p.policy_type, p.policy_string is null from policy p join report r on r.id=p.report where r.org='Delta Sender'" \
    "no-policy-found|1" "no-policy-found without policy-string"
expect_sql "select r.source like '%email-tlsrpt-gzip.eml', p.failed from report r join policy p on p.report=r.id where r.org='Zeta Mail'" \
    "1|2" "email with application/tlsrpt+gzip part"
expect_sql "select p.successful from report r join policy p on p.report=r.id where r.org='Eta Mailer'" \
    "64" "email with a .json attachment, one long base64 line"

# 2. duplicates: stored once
before=$(store_hash)
ingest "$DATA/sts-two-failures.json" "$DATA/named.json.gz" "$DATA/email-tlsrpt-gzip.eml"
[ "$(rc)" = 0 ] && [ ! -s "$T/err" ] && [ "$(store_hash)" = "$before" ] && ok "duplicates: exit 0, store unchanged" ||
    fail "duplicates: rc $(rc) $(cat "$T/err")"
sed -e 's/"<20261120.1@alpha.example>"/"20261120.1@alpha.example"/' -e 's/940/1940/' \
    "$DATA/sts-two-failures.json" >"$T/alpha-again.json"
ingest "$T/alpha-again.json"
[ "$(rc)" = 0 ] && [ "$(store_hash)" = "$before" ] && ok "same org + report-id (no <>, other counts): stored once" ||
    fail "duplicate by key: rc $(rc) $(cat "$T/err")"

# 3. summary --json: the contract of mxtls(1)
"$MXTLS" tlsrpt summary --db "$DB" --json >"$T/sum.json" || fail "summary exit $?"
python3 - "$T/sum.json" <<'EOF' && ok "summary --json: members, sums, failure_types" || fail "summary --json"
import json, sys
s = json.load(open(sys.argv[1]))
pd = {(e["policy_domain"], e["policy_type"]): e for e in s["policy_domains"]}
need = {"policy_domain", "policy_type", "total_successful_session_count",
        "total_failure_session_count", "failure_types"}
for e in s["policy_domains"]:
    assert need <= set(e), e.keys()
    assert e["policy_domain"] == e["policy_domain"].lower() and not e["policy_domain"].endswith(".")
assert set(pd) == {("rcpt-one.example", "sts"), ("rcpt-two.example", "tlsa"),
                   ("rcpt-three.example", "no-policy-found")}, set(pd)
one = pd[("rcpt-one.example", "sts")]
assert one["total_successful_session_count"] == 940 + 300 + 1200, one
assert one["total_failure_session_count"] == 12 + 7 + 5, one
assert one["failure_types"] == {"certificate-expired": 9, "starttls-not-supported": 3,
    "validation-failure": 2, "certificate-host-mismatch": 3, "sts-webpki-invalid": 5}, one["failure_types"]
two = pd[("rcpt-two.example", "tlsa")]
assert (two["total_successful_session_count"], two["total_failure_session_count"]) == (57 + 80 + 64, 4 + 2), two
assert two["failure_types"] == {"tlsa-invalid": 4, "dnssec-invalid": 2}, two
three = pd[("rcpt-three.example", "no-policy-found")]
assert (three["total_successful_session_count"], three["total_failure_session_count"], three["failure_types"]) == (25, 0, {}), three
EOF
"$MXTLS" tlsrpt summary --db "$DB" --json --domain RCPT-TWO.example. >"$T/sum2.json" &&
    python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert [e["policy_domain"] for e in s["policy_domains"]]==["rcpt-two.example"]' "$T/sum2.json" &&
    ok "--domain selects (case and trailing dot ignored)" || fail "--domain"

# a report that ended an hour ago: --since 1 sees only it
python3 - "$T/recent.json" <<'EOF'
import json, sys, datetime
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
f = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
json.dump({"organization-name": "Kappa Recent", "contact-info": "k@kappa.example", "report-id": "kappa-recent",
  "date-range": {"start-datetime": f(now - datetime.timedelta(hours=25)), "end-datetime": f(now - datetime.timedelta(hours=1))},
  "policies": [{"policy": {"policy-type": "sts", "policy-domain": "rcpt-four.example"},
                "summary": {"total-successful-session-count": 3, "total-failure-session-count": 1},
                "failure-details": [{"result-type": "sts-policy-fetch-error", "failed-session-count": 1}]}]},
  open(sys.argv[1], "w"))
EOF
ingest - <"$T/recent.json"
[ "$(rc)" = 0 ] && ok "standard input (-)" || fail "stdin: rc $(rc) $(cat "$T/err")"
"$MXTLS" tlsrpt summary --db "$DB" --json --since 1 >"$T/sum3.json" &&
    python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert [(e["policy_domain"],e["total_failure_session_count"],e["failure_types"]) for e in s["policy_domains"]]==[("rcpt-four.example",1,{"sts-policy-fetch-error":1})], s' "$T/sum3.json" &&
    ok "--since 1: only the report that ended in the last day" || fail "--since"

# as Postfix pipe(8) with flags=FRD hands it over: a "From " line, Return-Path
# and Delivered-To before the message, on standard input
{ printf 'From reports@zeta.example  Thu Nov 26 01:02:03 2026\nReturn-Path: <reports@zeta.example>\n'
  printf 'Delivered-To: tlsrpt@rcpt-two.example\n'; cat "$DATA/email-tlsrpt-gzip.eml"; } |
    "$MXTLS" tlsrpt ingest --db "$T/pipe.db" - 2>"$T/err"
[ $? = 0 ] && [ "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select org from report").fetchone()[0])' "$T/pipe.db")" = "Zeta Mail" ] &&
    ok "pipe(8) delivery on stdin (From_ line, Return-Path, Delivered-To)" || fail "pipe delivery: $(cat "$T/err")"

# Maildir: new/ and cur/, one message each, plus a duplicate
mkdir -p "$T/Maildir/new" "$T/Maildir/cur" "$T/Maildir/tmp"
python3 - "$DATA/email-json-attachment.eml" "$T/Maildir/new/1.host" "$T/Maildir/cur/2.host:2,S" <<'EOF'
import sys, base64
m = open(sys.argv[1]).read()
b64 = max(m.split("\n"), key=len)  # the attachment: one long base64 line
for out, rid in ((sys.argv[2], "eta-43"), (sys.argv[3], "eta-44")):
    body = base64.b64decode(b64).decode().replace("eta-42", rid)
    open(out, "w").write(m.replace(b64, base64.b64encode(body.encode()).decode()))
EOF
cp "$DATA/email-json-attachment.eml" "$T/Maildir/new/3.host"
ingest --maildir "$T/Maildir"
[ "$(rc)" = 0 ] && [ "$(sql "select count(*) from report where org='Eta Mailer'")" = 3 ] &&
    ok "--maildir: new/ and cur/ read, the duplicate stored once" || fail "maildir: rc $(rc) $(cat "$T/err")"

# 4. hostile input: refused, one line naming it, store unchanged
python3 - "$T" <<'EOF'
import struct, sys, zlib
t = sys.argv[1]
open(f"{t}/deep.json", "w").write('{"organization-name":' + "[" * 200000 + "]" * 200000 + "}")
# a valid gzip of 1 GiB of zeros (gzip -d reads it), built in a second: after
# a full flush every 1 MiB block of zeros compresses to the same bytes
chunk = b"\0" * (1 << 20)
co = zlib.compressobj(9, zlib.DEFLATED, -15)
block = co.compress(chunk) + co.flush(zlib.Z_FULL_FLUSH)
crc = 0
for _ in range(1024):
    crc = zlib.crc32(chunk, crc)
with open(f"{t}/bomb.json.gz", "wb") as f:
    f.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")  # RFC 1952 §2.3
    f.write(block * 1024 + co.flush())
    f.write(struct.pack("<II", crc, (1 << 30) & 0xFFFFFFFF))
EOF
head -c 300 "$DATA/named.json.gz" >"$T/truncated.json.gz"
{ cat "$DATA/named.json.gz"; printf 'garbage'; } >"$T/trailing.json.gz"
truncate -s 40M "$T/huge.json"
: >"$T/empty.json"
before=$(store_hash)
check_refused() { # FILE REASON-SUBSTRING
    local name=$1 want=$2 lines
    ingest "$name"
    lines=$(wc -l <"$T/err")
    if [ "$(rc)" != 0 ] && [ "$lines" = 1 ] && grep -qF "$name: refused: " "$T/err" &&
        grep -qF -- "$want" "$T/err" && [ "$(store_hash)" = "$before" ]; then
        ok "refused $(basename "$name"): $(cut -d: -f3- "$T/err" | cut -c1-90)"
    else
        fail "$(basename "$name"): rc $(rc), $lines lines: $(cat "$T/err")"
    fi
}
check_refused "$DATA/hostile-not-json.txt" "neither a JSON report"
check_refused "$DATA/hostile-missing-policies.json" "policies: missing"
check_refused "$DATA/hostile-negative-count.json" "negative count"
check_refused "$DATA/hostile-fractional-count.json" "not a non-negative integer"
check_refused "$DATA/hostile-string-count.json" "not a non-negative integer"
check_refused "$DATA/hostile-detail-no-result-type.json" "result-type: missing"
check_refused "$DATA/hostile-email-no-report.eml" "no TLS-RPT report part"
check_refused "$T/deep.json" "maximum parsing depth"
check_refused "$T/truncated.json.gz" "truncated gzip"
check_refused "$T/trailing.json.gz" "trailing data"
check_refused "$T/huge.json" "larger than"
check_refused "$T/empty.json" "empty input"
# the bomb: refused, and in bounded memory (peak RSS of the child)
python3 - "$MXTLS" "$DB" "$T/bomb.json.gz" "$T" <<'EOF'
import resource, subprocess, sys
mxtls, db, bomb, t = sys.argv[1:]
r = subprocess.run([mxtls, "tlsrpt", "ingest", "--db", db, bomb], capture_output=True, text=True)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
open(f"{t}/bomb.out", "w").write(f"{r.returncode}\n{rss}\n{r.stderr}")
EOF
{ read -r bomb_rc; read -r bomb_rss; bomb_err=$(cat); } <"$T/bomb.out"
if [ "$bomb_rc" != 0 ] && [ "$(printf '%s\n' "$bomb_err" | wc -l)" = 1 ] &&
    printf '%s' "$bomb_err" | grep -qF "bomb.json.gz: refused: decompressed size over" &&
    [ "$bomb_rss" -lt 200 ] && [ "$(store_hash)" = "$before" ]; then
    ok "1 GiB gzip bomb refused, peak RSS ${bomb_rss} MiB"
else
    fail "bomb: rc $bomb_rc rss $bomb_rss: $bomb_err"
fi

# 5. good and bad together: the good stored, exit 65, one line for the bad
sed 's/delta-1/delta-2/' "$DATA/no-policy-found.json" >"$T/delta2.json"
ingest "$T/delta2.json" "$DATA/hostile-negative-count.json"
if [ "$(rc)" = 65 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "hostile-negative-count.json: refused" "$T/err" &&
    [ "$(sql "select count(*) from report where report_id='delta-2'")" = 1 ]; then
    ok "mixed run: good stored, exit 65, the bad named"
else
    fail "mixed: rc $(rc) $(cat "$T/err")"
fi
ingest "$T/does-not-exist.json"
[ "$(rc)" = 66 ] && grep -q "does-not-exist.json: unreadable" "$T/err" && ok "unreadable input: exit 66" ||
    fail "unreadable: rc $(rc) $(cat "$T/err")"
"$MXTLS" tlsrpt ingest --db "$DB" >/dev/null 2>&1
[ $? = 64 ] && ok "no input: exit 64" || fail "no input"
echo 'not sqlite' >"$T/other.db"
"$MXTLS" tlsrpt summary --db "$T/other.db" >/dev/null 2>"$T/err"
[ $? = 74 ] && ok "summary on a file that is not our store: exit 74 ($(cat "$T/err"))" || fail "other db"
"$MXTLS" tlsrpt ingest --db "$T/other.db" "$DATA/no-policy-found.json" >/dev/null 2>"$T/err"
[ $? = 75 ] && grep -q "not a database" "$T/err" && ok "ingest into a store it cannot use: exit 75 (the MTA retries)" ||
    fail "ingest other db"

[ "$fails" = 0 ] && echo "tlsrpt_ingest.sh: all passed" || echo "tlsrpt_ingest.sh: $fails failed"
[ "$fails" = 0 ]

#!/bin/bash
# tlsrpt_dkim.sh - DKIM verification of emailed TLS reports by `mxtls tlsrpt
# ingest` (issue 13; RFC 8460 §5.3: reports by mail SHOULD be DKIM-signed),
# against the testbed's DNS (slot 46): the keys are published in its zones
# and looked up through mxtls's own validating resolver (--config FILE).
#
#   tlsrpt_dkim.sh MXTLS
#
# The messages are signed here by tlsrpt/dkim_sign.py (rsa-sha256,
# relaxed/relaxed, an implementation of its own), with keys made by openssl
# at each run. Asserts, each report stored (exit 0: a DKIM failure is not a
# refusal) with its verdict in the store and in summary --json dkim_reports:
#   - a valid signature, key with s=tlsrpt (RFC 8460 §3) in a signed zone:
#     pass, d=reporter.test s=rpt, aligned with From:, "DNSSEC-validated";
#   - the same key published with s=web (a service that is neither email nor
#     tlsrpt): fail, "not an e-mail key" (so the s=tlsrpt pass above is the
#     RFC 8460 §3 rule at work, not libopendkim's default);
#   - the body changed after signing: fail, "body hash mismatch";
#   - no DKIM-Signature: none;
#   - the key record missing (selector "gone"): fail, "no key record at
#     gone._domainkey.reporter.test: NXDOMAIN";
#   - the key in a zone whose signatures do not validate: temperror, "DNSSEC
#     validation failed";
#   - signed by other.test (unsigned zone) for a From: of reporter.test:
#     pass, aligned false, the reason names both domains;
#   - --no-dkim: none, "not verified", no lookup;
#   - summary --json: per policy domain "dkim" counts of the verdicts.
set -eu
MXTLS=${1:?usage: tlsrpt_dkim.sh MXTLS}
MXTLS=$(realpath "$MXTLS")
HERE=$(cd "$(dirname "$0")" && pwd)
export TESTBED_SLOT=46
. "$HERE/../testbed/lib.sh"
T=$(mktemp -d /tmp/tlsrpt_dkim.XXXXXX)
trap 'rm -rf "$T"' EXIT
SIGN=$HERE/tlsrpt/dkim_sign.py

# keys, and their TXT records in a copy of the scenario
txt_args() { # KEY.pem TAGS: the record as quoted strings of at most 200 octets
    local p rec out=""
    p=$(openssl rsa -in "$1" -pubout -outform DER 2>/dev/null | base64 -w0)
    rec="v=DKIM1; k=rsa; $2p=$p"
    while [ -n "$rec" ]; do out="$out \"${rec:0:200}\""; rec=${rec:200}; done
    printf '%s' "$out"
}
for k in reporter other broken; do openssl genrsa -out "$T/$k.pem" 2048 2>/dev/null; done
cp "$HERE/tlsrpt_dkim.scn" "$T/dkim.scn"
{
    echo "txt rpt._domainkey.reporter.test $(txt_args "$T/reporter.pem" 's=tlsrpt; ')"
    echo "txt web._domainkey.reporter.test $(txt_args "$T/reporter.pem" 's=web; ')"
    echo "txt rpt._domainkey.other.test $(txt_args "$T/other.pem" '')"
    echo "txt rpt._domainkey.broken.test $(txt_args "$T/broken.pem" '')"
} >>"$T/dkim.scn"
testbed_up "$T/dkim.scn"
trap 'rc=$?; set +e; rm -rf "$T"; (exit $rc); tb_teardown' EXIT # replaces testbed_up's trap
printf 'resolver:\n  unbound_config: %s\n' "$TESTBED_UNBOUND_CONF" >"$T/mxtls.yaml"
DB=$T/reports.db

# message ID FROM-DOMAIN: an RFC 8460 §5.3 report email with report-id ID
message() {
    cat <<MSG
From: TLS reporting <tlsrpt@$2>
To: rua@example.test
Subject: Report Domain: example.test Submitter: $2 Report-ID: <$1@$2>
Date: Wed, 02 Dec 2026 07:00:00 +0000
Message-ID: <$1@$2>
MIME-Version: 1.0
Content-Type: multipart/report; report-type="tlsrpt"; boundary="b-$1"

--b-$1
Content-Type: text/plain

This is an aggregate TLS report from $2.
--b-$1
Content-Type: application/tlsrpt+json
Content-Disposition: attachment; filename="$2!example.test!$1.json"

{"organization-name":"Reporter $1","date-range":{"start-datetime":"2026-12-01T00:00:00Z","end-datetime":"2026-12-01T23:59:59Z"},"contact-info":"tlsrpt@$2","report-id":"$1","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.test"},"summary":{"total-successful-session-count":10,"total-failure-session-count":0}}]}
--b-$1--
MSG
}

message good reporter.test | python3 "$SIGN" "$T/reporter.pem" reporter.test rpt >"$T/good.eml"
message changed reporter.test | python3 "$SIGN" "$T/reporter.pem" reporter.test rpt |
    sed 's/"total-successful-session-count":10/"total-successful-session-count":99/' >"$T/changed.eml"
message unsigned reporter.test >"$T/unsigned.eml"
message web reporter.test | python3 "$SIGN" "$T/reporter.pem" reporter.test web >"$T/web.eml"
message nokey reporter.test | python3 "$SIGN" "$T/reporter.pem" reporter.test gone >"$T/nokey.eml"
message bogus broken.test | python3 "$SIGN" "$T/broken.pem" broken.test rpt >"$T/bogus.eml"
message other reporter.test | python3 "$SIGN" "$T/other.pem" other.test rpt >"$T/other.eml"
message skipped reporter.test | python3 "$SIGN" "$T/reporter.pem" reporter.test rpt >"$T/skipped.eml"

expect "ingest of seven signed, changed and unsigned emails: exit 0 (a DKIM failure is no refusal)" \
    "$MXTLS" tlsrpt ingest --db "$DB" --config "$T/mxtls.yaml" "$T/good.eml" "$T/changed.eml" \
    "$T/unsigned.eml" "$T/nokey.eml" "$T/bogus.eml" "$T/other.eml" "$T/web.eml"
expect "ingest --no-dkim: exit 0" "$MXTLS" tlsrpt ingest --db "$DB" --no-dkim "$T/skipped.eml"

"$MXTLS" tlsrpt summary --db "$DB" --json >"$T/sum.json"
# row ID: result|domain|selector|from_domain|aligned|reason of report-id ID
row() {
    python3 - "$T/sum.json" "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for r in s["dkim_reports"]:
    if r["report_id"] == sys.argv[2]:
        print("|".join("" if r[k] is None else str(r[k]).lower() if k == "aligned" else str(r[k])
                       for k in ("result", "domain", "selector", "from_domain", "aligned", "reason")))
PY
}
has "valid signature, s=tlsrpt key in a signed zone: pass, aligned, DNSSEC-validated" "$(row good)" \
    '^pass\|reporter\.test\|rpt\|reporter\.test\|true\|signature verified .*DNSSEC-validated'
has "key for service s=web only: fail, not an e-mail key" "$(row web)" \
    '^fail\|reporter\.test\|web\|reporter\.test\|true\|not an e-mail key'
has "body changed after signing: fail, body hash mismatch" "$(row changed)" \
    '^fail\|reporter\.test\|rpt\|reporter\.test\|true\|body hash mismatch'
has "no DKIM-Signature: none" "$(row unsigned)" '^none\|\|\|\|false\|no DKIM-Signature'
has "key record missing: fail, no key record, NXDOMAIN" "$(row nokey)" \
    '^fail\|reporter\.test\|gone\|.*no key record at gone\._domainkey\.reporter\.test: NXDOMAIN'
has "key in a bogus zone: temperror, DNSSEC validation failed" "$(row bogus)" \
    '^temperror\|broken\.test\|rpt\|broken\.test\|true\|key lookup of rpt\._domainkey\.broken\.test failed: DNSSEC validation failed'
has "signed by other.test for From: reporter.test: pass, not aligned, both named" "$(row other)" \
    '^pass\|other\.test\|rpt\|reporter\.test\|false\|.*unsigned zone.*signing domain other\.test is not the From: domain reporter\.test'
has "--no-dkim: none, not verified" "$(row skipped)" '^none\|.*not verified \(--no-dkim\)'
check "every report stored (8)" "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from report").fetchone()[0])' "$DB")" 8
check "summary --json: dkim counts of example.test" \
    "$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["policy_domains"][0]; print(e["policy_domain"], json.dumps(e["dkim"], sort_keys=True))' "$T/sum.json")" \
    'example.test {"fail": 3, "none": 2, "pass": 2, "temperror": 1}'
done_testing

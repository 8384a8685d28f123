#!/bin/bash
# check.sh - `mxtls check` and `mxtls sts verify` (issue 11) on the testbed.
#
# Brings up scenarios/check.scn on testbed slot 42 (TESTBED_SLOT overrides)
# and, with a configuration naming the testbed's libunbound file, its CA and
# a 2 s zone timeout:
#
#   - for every "#= DOMAIN STATUS ID..." line of the scenario: runs
#     `mxtls check -c CFG --json DOMAIN`; the exit code must be STATUS's
#     (ok 0, warning 1, critical 2, unknown 3), the JSON object's "domain"
#     and "status" must be DOMAIN and STATUS, every finding must have id,
#     severity, host, address and message, every ID listed must be among the
#     finding ids and no "!ID" may be; one domain per failure mode of the
#     issue (tlsa-no-match, starttls-missing, mx/addr bogus, sts fetch and
#     parse failures, several STSv1 records, enforce with an unmatched MX or
#     a WebPKI-invalid certificate, TLS-RPT missing or invalid, max_age,
#     unusable-only TLSA, partial DANE, certificate and RRSIG expiry, null
#     MX, SERVFAIL, timeout) and per healthy shape (DANE only, MTA-STS only,
#     both, neither, 3 1 1, 2 1 1, a CNAME'd MX, several MX hosts and
#     addresses);
#   - for every "#~ DOMAIN STATUS ID..." line the same with
#     `mxtls sts verify`, which must not probe SMTP (no address facts);
#   - the batch: `mxtls check -f -` (stdin) over every "#=" domain, the dead
#     one (hole.test: nothing answers) first: one JSON line per domain in
#     input order, each with the status of its single run, and the exit code
#     the worst (critical > warning > unknown > ok); the time is printed,
#     never asserted;
#   - the human output: a heading "DOMAIN: STATUS", findings grouped under
#     their host, no ANSI colour when stdout is not a terminal;
#   - usage: no domain is 64, a bad --warn-days is 64, an unreadable -f file
#     is 66, a name that is not a domain gets domain-invalid (unknown, 3);
#     a configuration that cannot be loaded is UNKNOWN (3);
#   - --warn-days 0 turns the expiring RRSIG and certificate cases OK.
#
# usage: check.sh MXTLS
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLS=${1:?usage: check.sh MXTLS}
export TESTBED_SLOT=${TESTBED_SLOT:-42}
# shellcheck source=tests/testbed/lib.sh
. "$here/../testbed/lib.sh"

if [ ! -x "$MXTLS" ]; then
    echo "not ok - mxtls binary $MXTLS is not built"
    exit 1
fi

scn_src=$here/scenarios/check.scn
work=$(mktemp -d /tmp/mxtls-check-XXXXXX)
cleanup_work() { rm -rf "$work"; }
# the testbed's trap runs at exit; remove our scratch directory first
trap 'cleanup_work; tb_teardown' EXIT
scn=$work/check.scn
sed "s/@MXNET@/127.$((1 + 2 * TESTBED_SLOT))/g" "$scn_src" >"$scn"
testbed_up "$scn"
trap 'cleanup_work; tb_teardown' EXIT

cfg=$work/mxtls.yml
cat >"$cfg" <<EOF
resolver:
  unbound_config: $TESTBED_UNBOUND_CONF
https:
  ca_file: $TESTBED_CA
default_zone:
  timeout: 2
EOF

# judge EXPECTED_STATUS IDS... < JSON: python3 checks one JSON object; prints problems
judge() {
    python3 -c '
import json, sys
want, ids = sys.argv[1], sys.argv[2:]
lines = [l for l in sys.stdin.read().splitlines() if l.strip()]
if len(lines) != 1:
    print("want one JSON line, got %d" % len(lines)); sys.exit(1)
o = json.loads(lines[0])
bad = []
if o.get("status") != want:
    bad.append("status %r, want %r" % (o.get("status"), want))
got = []
for f in o.get("findings", []):
    for k in ("id", "severity", "host", "address", "message"):
        if not isinstance(f.get(k), str):
            bad.append("finding without a string %s: %r" % (k, f))
    if f.get("severity") not in ("info", "warning", "critical", "unknown"):
        bad.append("severity %r" % f.get("severity"))
    got.append(f.get("id"))
for i in ids:
    if i.startswith("!"):
        if i[1:] in got:
            bad.append("unexpected finding %s" % i[1:])
    elif i not in got:
        bad.append("no finding %s" % i)
if bad:
    print("; ".join(bad)); print("findings: " + " ".join(got)); sys.exit(1)
print(o["domain"])
' "$@"
}

code_of() {
    case $1 in ok) echo 0 ;; warning) echo 1 ;; critical) echo 2 ;; *) echo 3 ;; esac
}

# one_case CMD... -- STATUS DOMAIN IDS...
run_case() {
    local what=$1 status=$2 domain=$3
    shift 3
    local out rc=0
    if [ "$what" = check ]; then
        out=$("$MXTLS" check -c "$cfg" --json "$domain" 2>"$work/err") || rc=$?
    else
        out=$("$MXTLS" sts verify -c "$cfg" --json "$domain" 2>"$work/err") || rc=$?
    fi
    local verdict
    if verdict=$(printf '%s\n' "$out" | judge "$status" "$@" 2>&1) &&
        [ "$verdict" = "$domain" ] && [ "$rc" = "$(code_of "$status")" ]; then
        ok "$what $domain: $status (exit $rc) ${*:-}"
    else
        not_ok "$what $domain: want $status (exit $(code_of "$status")) ${*:-}"
        echo "  # exit $rc; $verdict"
        sed 's/^/  # stderr: /' "$work/err" | head -n 5
    fi
    if [ "$what" = sts ]; then
        has_addr=$(printf '%s\n' "$out" | python3 -c '
import json, sys
o = json.loads(sys.stdin.read())
print(any("addresses" in h for h in o.get("mx", {}).get("hosts", [])))')
        check "sts verify $domain: no SMTP probe facts" "$has_addr" False
    fi
}

echo "# mxtls check, one domain at a time"
while read -r tag domain status ids; do
    # shellcheck disable=SC2086
    run_case check "$status" "$domain" $ids
done < <(grep -E '^#= ' "$scn")

echo "# mxtls sts verify"
while read -r tag domain status ids; do
    # shellcheck disable=SC2086
    run_case sts "$status" "$domain" $ids
done < <(grep -E '^#~ ' "$scn")

echo "# batch: -f - with the dead domain first"
{
    echo "hole.test"
    echo "# a comment line, and a blank line"
    echo
    grep -E '^#= ' "$scn" | awk '$2 != "hole.test" { print $2 }'
} >"$work/list"
start=$(date +%s.%N)
rc=0
"$MXTLS" check -c "$cfg" --json -f - <"$work/list" >"$work/batch.json" 2>"$work/err" || rc=$?
end=$(date +%s.%N)
echo "# batch of $(grep -vc -e '^#' -e '^$' "$work/list") domains took $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }') s"
check "batch exit code: the worst domain (critical)" "$rc" 2
got=$(python3 -c '
import json, sys
want = {}
for line in open(sys.argv[1]):
    if line.startswith("#= "):
        w = line.split()
        want[w[1]] = w[2]
order = [l.strip() for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")]
outs = [json.loads(l) for l in open(sys.argv[3]) if l.strip()]
bad = []
if [o["domain"] for o in outs] != order:
    bad.append("order %s" % [o["domain"] for o in outs])
for o in outs:
    if want.get(o["domain"]) != o["status"]:
        bad.append("%s: %s, want %s" % (o["domain"], o["status"], want.get(o["domain"])))
print("; ".join(bad) if bad else "ok")
' "$scn" "$work/list" "$work/batch.json")
check "batch: one JSON line per domain, input order, statuses as alone" "$got" ok

echo "# human output"
rc=0
out=$("$MXTLS" check -c "$cfg" nomatch.bad.test partial.bad.test 2>&1) || rc=$?
check "human output: exit code of the worst (critical)" "$rc" 2
has "human output: heading with the status" "$out" '^nomatch\.bad\.test: critical$'
has "human output: host group line" "$out" '^  mx\.nomatch\.bad\.test$'
has "human output: a finding line with severity, address and id" "$out" \
    '^    critical +\[127\.[0-9.]+\] tlsa-no-match: '
has "human output: second domain" "$out" '^partial\.bad\.test: warning$'
hasnt "human output: no ANSI colour without a terminal" "$out" $'\033'

echo "# usage and setup errors"
rc=0; "$MXTLS" check -c "$cfg" >/dev/null 2>&1 || rc=$?
check "no domain: 64" "$rc" 64
rc=0; "$MXTLS" check --warn-days x both.ok.test >/dev/null 2>&1 || rc=$?
check "bad --warn-days: 64" "$rc" 64
rc=0; "$MXTLS" check -c "$cfg" -f "$work/nonexistent" >/dev/null 2>&1 || rc=$?
check "unreadable -f file: 66" "$rc" 66
rc=0; out=$("$MXTLS" check -c "$cfg" --json 'bad..name' 2>/dev/null) || rc=$?
check "not a domain: unknown (3)" "$rc" 3
has "not a domain: domain-invalid" "$out" '"id":"domain-invalid"'
rc=0; "$MXTLS" check -c "$work/nonexistent.yml" both.ok.test >/dev/null 2>&1 || rc=$?
check "configuration cannot be loaded: unknown (3)" "$rc" 3
rc=0; "$MXTLS" sts verify -c "$cfg" a.test b.test >/dev/null 2>&1 || rc=$?
check "sts verify takes one domain: 64" "$rc" 64

echo "# --warn-days"
rc=0; out=$("$MXTLS" check -c "$cfg" --json --warn-days 0 soon.test certsoon.bad.test) || rc=$?
check "--warn-days 0: nothing expires within 0 days, both ok" "$rc" 0
hasnt "--warn-days 0: no expiring findings" "$out" 'rrsig-expiring|cert-expiring'
rc=0; out=$("$MXTLS" check -c "$cfg" --json --warn-days 60 both.ok.test) || rc=$?
check "--warn-days 60: the 30-day signatures warn" "$rc" 1
has "--warn-days 60: rrsig-expiring" "$out" '"id":"rrsig-expiring"'

done_testing

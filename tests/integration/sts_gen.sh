#!/bin/bash
# sts_gen.sh - `mxtls sts gen` (issue 11): the MTA-STS policy file, the
# _mta-sts TXT record and the _smtp._tls TLS-RPT record a domain publishes.
# No testbed.
#
#   sts_gen.sh MXTLS
#
# Asserts:
#   - the hardening guide's Phase 1 example (steps 1-3) comes out byte for
#     byte: the policy file (RFC 8461 §3.2) with LF, and with --crlf every
#     line ends in CRLF; postfix-mta-sts-resolver's own parser (the daemon
#     mxtlsd replaces) reads the same mode, mx list and max_age;
#   - the default id is a UTC time YYYYMMDDTHHMMSSZ (RFC 8461 §3.1: 1-32
#     alphanumerics) close to now; --id is used as given;
#   - the three layouts agree: the default (comment headers, policy, zone
#     lines), --policy-only (exactly the file), --dns-only (exactly the zone
#     lines), --json (members policy, mta_sts_txt, tlsrpt_txt ...);
#   - the zone lines load in ldns-read-zone, with absolute names under
#     --domain and relative ones without; a TLS-RPT value over 255 octets is
#     split into strings of at most 255 that join back to the record
#     (RFC 8460 §3, RFC 1035 §3.3.14);
#   - refusals, each with the parser's reason and its exit status: 64 for a
#     command line that cannot be understood (--mode other than
#     enforce/testing/none, --max-age not a number, missing options, two
#     layouts), 65 for values mxtlsd would reject (max_age over 31557600, bad
#     or "*.tld" patterns, a duplicate pattern, mx missing for enforce, an id
#     over 32 characters or one that smuggles a field, rua URIs of another
#     scheme or with ";" or ",", more than 16 URIs, a bad --domain); nothing
#     on stdout then;
#   - warnings on stderr (exit 0) for max_age under a day and for no --rua.
set -uo pipefail
MXTLS=${1:?usage: sts_gen.sh MXTLS}
MXTLS=$(realpath "$MXTLS") || exit 1
PY=/usr/bin/python3 # Debian's, which has postfix_mta_sts_resolver
for tool in ldns-read-zone "$PY"; do
    command -v "$tool" >/dev/null || {
        echo "sts_gen.sh: $tool is missing (scripts/deps test)" >&2
        exit 1
    }
done
"$PY" -c 'import postfix_mta_sts_resolver.utils' 2>/dev/null || {
    echo "sts_gen.sh: postfix-mta-sts-resolver is missing (scripts/deps test)" >&2
    exit 1
}

T=$(mktemp -d "${TMPDIR:-/tmp}/mxtls-sts-gen.XXXXXX")
trap 'rm -rf "$T"' EXIT

fails=0
checks=0
ok() { checks=$((checks + 1)); }
fail() {
    checks=$((checks + 1))
    fails=$((fails + 1))
    echo "FAIL: $*" >&2
}
same() {
    if [ "$2" = "$3" ]; then ok; else fail "$1: got '$2', want '$3'"; fi
}
# status WANT WHAT REASON CMD... - exit status, stderr naming REASON, empty stdout on failure
status() {
    local want=$1 what=$2 reason=$3 out rc
    shift 3
    out=$("$@" 2>"$T/stderr")
    rc=$?
    if [ "$rc" != "$want" ]; then
        fail "$what: exit $rc, want $want ($(head -c 300 "$T/stderr"))"
    elif [ "$want" != 0 ] && [ -n "$out" ]; then
        fail "$what: exit $rc but printed '$out'"
    elif [ -n "$reason" ] && ! grep -qF -- "$reason" "$T/stderr"; then
        fail "$what: stderr lacks '$reason': $(head -c 300 "$T/stderr")"
    else
        ok
    fi
}
gen() { "$MXTLS" sts gen "$@"; }

# ---- the guide's Phase 1, steps 1-3
guide_args=(--mode enforce --mx mail.example.com --mx mail2.example.com --max-age 86400
    --rua mailto:tls-rpt@example.com --domain example.com --id 20260608T000000Z)
gen "${guide_args[@]}" --policy-only >"$T/policy.lf" 2>/dev/null
printf 'version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: mail2.example.com\nmax_age: 86400\n' \
    >"$T/policy.want"
if cmp -s "$T/policy.lf" "$T/policy.want"; then ok; else
    fail "guide policy (LF): $(od -c "$T/policy.lf" | head -5)"
fi
gen "${guide_args[@]}" --policy-only --crlf >"$T/policy.crlf" 2>/dev/null
sed 's/$/\r/' "$T/policy.want" >"$T/policy.crlf.want"
if cmp -s "$T/policy.crlf" "$T/policy.crlf.want"; then ok; else
    fail "guide policy (CRLF): $(od -c "$T/policy.crlf" | head -5)"
fi
same "guide DNS records" "$(gen "${guide_args[@]}" --dns-only 2>/dev/null)" \
    '_mta-sts.example.com. IN TXT "v=STSv1; id=20260608T000000Z"
_smtp._tls.example.com. IN TXT "v=TLSRPTv1; rua=mailto:tls-rpt@example.com"'
for f in policy.lf policy.crlf; do
    got=$("$PY" -c '
import sys
from postfix_mta_sts_resolver.utils import parse_mta_sts_policy
p = parse_mta_sts_policy(open(sys.argv[1], newline="").read())
print(p["version"], p["mode"], ",".join(p["mx"]), p["max_age"])' "$T/$f" 2>&1)
    same "$f: postfix-mta-sts-resolver reads it" "$got" \
        "STSv1 enforce mail.example.com,mail2.example.com 86400"
done

# ---- the default layout holds the other two, with comment headers
gen "${guide_args[@]}" >"$T/all" 2>/dev/null
{
    echo "# MTA-STS policy (RFC 8461 §3.2): serve as https://mta-sts.example.com/.well-known/mta-sts.txt (text/plain)"
    cat "$T/policy.lf"
    echo
    echo "; DNS records for example.com (zone-file lines; change the id whenever the policy changes)"
    gen "${guide_args[@]}" --dns-only 2>/dev/null
} >"$T/all.want"
if cmp -s "$T/all" "$T/all.want"; then ok; else fail "default layout: $(diff "$T/all" "$T/all.want")"; fi

# ---- --json
json=$(gen "${guide_args[@]}" --crlf --json 2>/dev/null)
got=$("$PY" -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["policy"] == open(sys.argv[2], newline="").read(), d["policy"]
assert d["mta_sts_txt"] == "v=STSv1; id=20260608T000000Z", d
assert d["tlsrpt_txt"] == "v=TLSRPTv1; rua=mailto:tls-rpt@example.com", d
assert d["mta_sts_name"] == "_mta-sts.example.com." and d["tlsrpt_name"] == "_smtp._tls.example.com.", d
assert d["policy_url"] == "https://mta-sts.example.com/.well-known/mta-sts.txt", d
print("ok")' "$json" "$T/policy.crlf" 2>&1)
same "--json members" "$got" ok
got=$("$PY" -c '
import json, sys
d = json.loads(sys.argv[1])
print(d["tlsrpt_txt"], d["tlsrpt_name"], d["domain"], d["mta_sts_name"])' \
    "$(gen --mode none --max-age 0 --json 2>/dev/null)" 2>&1)
same "--json without --rua or --domain" "$got" "None None None _mta-sts"

# ---- the id (RFC 8461 §3.1)
before=$(date -u +%Y%m%d%H%M%S)
id=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' \
    "$(gen --mode testing --max-age 604800 --mx mx.example.com --json 2>/dev/null)")
after=$(date -u +%Y%m%d%H%M%S)
if [[ $id =~ ^([0-9]{8})T([0-9]{6})Z$ ]] && [ "${BASH_REMATCH[1]}${BASH_REMATCH[2]}" -ge "$before" ] &&
    [ "${BASH_REMATCH[1]}${BASH_REMATCH[2]}" -le "$after" ]; then ok; else
    fail "default id '$id' is not the UTC time between $before and $after"
fi

# ---- zone lines: relative without --domain; long TXT values split at 255
rua=()
for i in $(seq 16); do rua+=(--rua "https://reports-$i.example.net/tls-rpt/v1/endpoint-$i"); done
gen --mode enforce --max-age 604800 --mx '*.Example.COM.' --id abc123 "${rua[@]}" --dns-only \
    >"$T/dns" 2>/dev/null
{
    echo '$ORIGIN example.com.'
    echo '$TTL 300'
    echo '@ IN SOA ns hostmaster 1 3600 600 86400 300'
    cat "$T/dns"
} >"$T/zone.db"
if ldns-read-zone "$T/zone.db" >"$T/zone.out" 2>"$T/stderr"; then ok; else
    fail "ldns-read-zone: $(cat "$T/stderr")"
fi
want="v=TLSRPTv1; rua=$(for i in $(seq 16); do printf '%s' "https://reports-$i.example.net/tls-rpt/v1/endpoint-$i,"; done)"
want=${want%,}
got=$("$PY" -c '
import re, sys
for line in open(sys.argv[1]):
    f = line.split("\t")
    if f[0] == "_smtp._tls.example.com." and f[3] == "TXT":
        s = re.findall(r"\"((?:[^\"\\\\]|\\\\.)*)\"", f[4])
        assert len(s) > 1 and all(len(x) <= 255 for x in s), s
        print("".join(s))' "$T/zone.out" 2>&1)
same "TLS-RPT record over 255 octets, split and joined" "$got" "$want"
if grep -q '^_mta-sts.example.com.	300	IN	TXT	"v=STSv1; id=abc123"$' "$T/zone.out"; then ok; else
    fail "relative _mta-sts owner: $(grep _mta-sts "$T/zone.out")"
fi
same "wildcard pattern normalised" "$(gen --mode enforce --max-age 604800 --mx '*.Example.COM.' \
    --policy-only 2>/dev/null | grep '^mx')" "mx: *.example.com"

# ---- warnings (exit 0)
status 0 "max_age under a day" "max_age 3600 is under one day" \
    gen --mode enforce --max-age 3600 --mx mx.example.com --rua mailto:r@example.com
status 0 "no --rua" "no --rua" gen --mode enforce --max-age 604800 --mx mx.example.com
status 0 "max_age 31557600, the maximum" "no --rua" \
    gen --mode testing --max-age 31557600 --mx mx.example.com

# ---- refusals
status 64 "mode not one of three (RFC 8461 §3.2)" "expected enforce, testing or none" \
    gen --mode Enforce --max-age 86400 --mx mx.example.com
status 64 "mode missing" "--mode is required" gen --max-age 86400 --mx mx.example.com
status 64 "max-age missing" "--max-age is required" gen --mode enforce --mx mx.example.com
status 64 "max-age negative" "expected whole seconds" gen --mode enforce --max-age -1 --mx mx.example.com
status 64 "max-age not a number" "expected whole seconds" gen --mode enforce --max-age 1w --mx mx.example.com
status 64 "two layouts" "choose one of" gen --mode none --max-age 0 --json --policy-only
status 64 "a stray argument" "unexpected argument" gen --mode none --max-age 0 mx.example.com
status 64 "no sts subcommand" "no subcommand" "$MXTLS" sts frobnicate example.com
status 65 "max_age over 31557600 (RFC 8461 §3.2)" "exceeds 31557600" \
    gen --mode enforce --max-age 31557601 --mx mx.example.com
status 65 "pattern with '_' (RFC 8461 §4.1)" "--mx mx_1.example.com" \
    gen --mode enforce --max-age 86400 --mx mx_1.example.com
status 65 "wildcard over a TLD (RFC 8461 §4.1)" "at least two labels" \
    gen --mode enforce --max-age 86400 --mx '*.com'
status 65 "wildcard not left-most" "--mx mx.*.example.com" \
    gen --mode enforce --max-age 86400 --mx 'mx.*.example.com'
status 65 "pattern with a line break" "--mx" \
    gen --mode enforce --max-age 86400 --mx $'mx.example.com\nmode: none'
status 65 "duplicate pattern" "given twice" \
    gen --mode enforce --max-age 86400 --mx mx.example.com --mx MX.example.com.
status 65 "enforce without mx (RFC 8461 §3.2)" "no mx field" gen --mode enforce --max-age 86400
status 65 "id over 32 characters (RFC 8461 §3.1)" "longer than 32" \
    gen --mode none --max-age 0 --id 123456789012345678901234567890123
status 65 "id smuggling a field" "1 to 32 letters and digits" gen --mode none --max-age 0 --id '1; x=y'
status 65 "id with '-'" "--id 2026-12-02" gen --mode none --max-age 0 --id 2026-12-02
status 65 "rua without a scheme" "did you mean mailto:r@example.com" \
    gen --mode none --max-age 0 --rua r@example.com
status 65 "rua of another scheme (RFC 8460 §3)" "mailto: or https:" \
    gen --mode none --max-age 0 --rua ftp://reports.example.com/
status 65 "rua smuggling a field" "%-encoded" gen --mode none --max-age 0 --rua 'mailto:r@example.com; x=y'
status 65 "two URIs in one --rua" "%-encoded" \
    gen --mode none --max-age 0 --rua 'mailto:r@example.com,mailto:s@example.com'
status 65 "rua https to an IP address" "--rua https://192.0.2.1/" \
    gen --mode none --max-age 0 --rua https://192.0.2.1/
status 65 "17 rua URIs (cap 16)" "TLS-RPT record would be rejected" \
    gen --mode none --max-age 0 "${rua[@]}" --rua mailto:r@example.com
status 65 "bad --domain" "--domain" gen --mode none --max-age 0 --domain 'example..com'
status 0 "--help" "" gen --help

echo "sts_gen.sh: $checks checks, $fails failed"
[ "$fails" -eq 0 ]

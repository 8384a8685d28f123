#!/bin/bash
# tlsa_verify.sh - `mxtls tlsa verify` and `mxtls tlsa rollover` (issue 11)
# on the testbed (scenarios/tlsa_verify.scn), slots 40 and 41.
#
#   tlsa_verify.sh MXTLS [HOOK]
#
# Asserts:
#   - verify: exit code (Nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), the
#     JSON status and finding ids for: 3 1 1; 2 1 1; several records where only
#     one matches (which record, at which depth; the others match nothing);
#     a CNAME'd MX host (TLSA at the expanded name); several MX hosts and two
#     addresses on one host; [HOST]:PORT; a forged certificate (no match); STARTTLS
#     stripped; only unusable records; DANE on one MX host of two; TLSA in an
#     unsigned zone; a bogus MX RRset; NXDOMAIN;
#   - hostile SMTP peers (silent, slow banner, garbage, 10 MB of EHLO lines,
#     TLS alert, reset mid-handshake, 421 and 554 greetings): a clear
#     finding and exit code within the probe deadline (-t 3), never a crash
#     or a hang;
#   - differential: on every DANE address, `posttls-finger -l dane` (Postfix's
#     DANE client, for the address it connects to) and `ldns-dane -c CHAIN
#     verify` (the chain fetched with `openssl s_client -starttls smtp`)
#     agree with mxtls's dane_matched;
#   - rollover (slot 41): the next key not published -> 2 naming both MX
#     hosts; published for one -> 2 naming the other only; published for
#     both -> 0 with wait_seconds = the TLSA TTL; after `ctl rotate` the new
#     certificate deployed -> phase "after", 0, the old records listed as
#     stale; `ctl rotate --no-dns` -> 2; contrib/certbot-deploy-hook
#     refuses to install while rollover says no and installs when it says yes.
set -uo pipefail
MXTLS=${1:?usage: tlsa_verify.sh MXTLS [HOOK]}
MXTLS=$(realpath "$MXTLS") || exit 1
HERE=$(cd "$(dirname "$0")" && pwd)
HOOK=${2:-$HERE/../../contrib/certbot-deploy-hook}
SCN=$HERE/scenarios/tlsa_verify.scn
export TESTBED_SLOT=40
# shellcheck source=/dev/null
. "$HERE/../testbed/lib.sh"
set +e
for tool in posttls-finger ldns-dane openssl python3; do
    command -v "$tool" >/dev/null || { echo "tlsa_verify.sh: $tool missing (scripts/deps)" >&2; exit 1; }
done

testbed_up "$SCN"
T=$(mktemp -d /tmp/mxtls-tlsa-verify-XXXXXX)
DIR2=
cleanup2() {
    local rc=$?
    [ -n "$DIR2" ] && "$TB/down" "$DIR2" >/dev/null 2>&1
    rm -rf "$T"
    (exit $rc)
    tb_teardown
}
trap cleanup2 EXIT

# config FILE UNBOUND_CONF CA: mxtlsd's configuration, the parts mxtls reads
config() {
    printf 'resolver:\n  unbound_config: %s\nhttps:\n  ca_file: %s\ndefault_zone:\n  timeout: 4\n' \
        "$2" "$3" >"$1"
}
config "$T/c40.yml" "$TESTBED_UNBOUND_CONF" "$TESTBED_CA"

# jget JSON PYEXPR: a value from JSON (d is the document), printed by Python
jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2" 2>&1; }

# ids JSON: the finding ids with severity above info, sorted and unique
ids() { jget "$1" '" ".join(sorted(set(f["id"] for f in d["findings"] if f["severity"] not in ("ok","info"))))'; }

# v TARGET...: run verify --json; sets OUT and RC
v() {
    OUT=$(timeout 60 "$MXTLS" tlsa verify -c "$T/c40.yml" -t 3 --json "$@" 2>"$T/err")
    RC=$?
}

# case_ TARGET RC STATUS IDS: exit code, status, the non-info finding ids
case_() {
    v "$1"
    check "$1: exit code" "$RC" "$2"
    check "$1: status" "$(jget "$OUT" 'd["status"]')" "$3"
    check "$1: findings" "$(ids "$OUT")" "$4"
}

# ---------------------------------------------------------------- multi-address host
# mx1.multi.tv.test also answers on mx1b's address, whose key is published too.
cp "$SCN" "$T/v.scn"
{
    echo "rr mx1.multi.tv.test A $(addr mx1b.multi.tv.test)"
    echo "tlsa _25._tcp.mx1.multi.tv.test $("$MXTLS" tlsa gen --cert "$TESTBED_DIR/certs/mx1b.multi.tv.test.pem")"
} >>"$T/v.scn"
expect "reload with the second address of mx1.multi" "$TB/ctl" "$TESTBED_DIR" reload "$T/v.scn"

# ---------------------------------------------------------------- healthy shapes
case_ ee.tv.test 0 ok ""
check "3 1 1: matched record and depth" \
    "$(jget "$OUT" '[d["hosts"][0]["addresses"][0][k] for k in ("dane_matched","dane_depth")]')" "[True, 0]"
check "3 1 1: WebPKI chain and name valid (test CA)" \
    "$(jget "$OUT" '[d["hosts"][0]["addresses"][0][k] for k in ("webpki_chain_ok","webpki_name_ok")]')" "[True, True]"
case_ ta.tv.test 0 ok ""
check "2 1 1: matched at depth 1 (the CA)" \
    "$(jget "$OUT" 'd["hosts"][0]["addresses"][0]["dane_depth"]')" "1"
case_ second.tv.test 0 ok ""
check "several records: the 0000 record matches nothing" \
    "$(jget "$OUT" '[a for r, a in zip(d["hosts"][0]["tlsa"], d["hosts"][0]["addresses"][0]["record_depths"]) if r["record"].startswith("3 1 1 0000")]')" "[None]"
check "several records: 3 in the RRset, one does not match" \
    "$(jget "$OUT" '(len(d["hosts"][0]["tlsa"]), d["hosts"][0]["addresses"][0]["record_depths"].count(None))')" "(3, 1)"
check "several records: the matched record is not the 0000 one" \
    "$(jget "$OUT" 'd["hosts"][0]["tlsa"][d["hosts"][0]["addresses"][0]["dane_record"]]["record"].startswith("3 1 1 0000")')" "False"
case_ cname.tv.test 0 ok ""
check "CNAME'd MX: the TLSA RRset at the expanded name" \
    "$(jget "$OUT" '(d["hosts"][0]["cname"], d["hosts"][0]["tlsa_name"])')" \
    "('real.cn.test', '_25._tcp.real.cn.test.')"
check "CNAME'd MX: WebPKI name check against the MX host fails, DANE-EE does not care" \
    "$(jget "$OUT" '[d["hosts"][0]["addresses"][0][k] for k in ("dane_matched","webpki_name_ok")]')" "[True, False]"
case_ multi.tv.test 0 ok ""
check "several MX hosts and addresses: every address probed and matched" \
    "$(jget "$OUT" 'sorted((h["host"], a["address"], a["dane_matched"]) for h in d["hosts"] for a in h["addresses"])')" \
    "[('mx1.multi.tv.test', '$(addr mx1.multi.tv.test)', True), ('mx1.multi.tv.test', '$(addr mx1b.multi.tv.test)', True), ('mx2.multi.tv.test', '$(addr mx2.multi.tv.test)', True)]"
case_ "[mx.ee.tv.test]:25" 0 ok ""
check "[HOST]:PORT: the host's own TLSA RRset" "$(jget "$OUT" 'd["hosts"][0]["tlsa_name"]')" "_25._tcp.mx.ee.tv.test."
OUT=$(timeout 60 "$MXTLS" tlsa verify -c "$T/c40.yml" -t 3 ee.tv.test)
has "human output names the matching record" "$OUT" "DANE match \(record 1, depth 0\)"

# ---------------------------------------------------------------- failures
case_ forged.tv.test 2 critical "tlsa-no-match"
has "no match: says what to publish" "$(jget "$OUT" 'd["findings"]')" "leaf's 3 1 1 record is 3 1 1 [0-9a-f]{64}"
check "no match: WebPKI chain invalid (attacker CA)" \
    "$(jget "$OUT" 'd["hosts"][0]["addresses"][0]["webpki_chain_ok"]')" "False"
case_ strip.tv.test 2 critical "starttls-missing"
case_ pkix.tv.test 1 warning "tlsa-unusable-only"
case_ half.tv.test 1 warning "dane-partial tlsa-none"
case_ d.tvins.test 2 critical "tlsa-ignored"
case_ d.tvbog.test 2 critical "mx-bogus"
case_ nx.tv.test 2 critical "mx-nxdomain"

# ---------------------------------------------------------------- hostile peers
# Each gives its finding within the 3 s probe deadline (timeout 60 catches a hang).
case_ silent.tv.test 3 unknown "smtp-timeout"
has "silent: timed out waiting for the greeting" "$(jget "$OUT" 'd["hosts"][0]["addresses"][0]["reason"]')" "timed out waiting for the 220 greeting"
case_ slow.tv.test 3 unknown "smtp-timeout"
case_ garbage.tv.test 2 critical "smtp-banner-failed"
has "garbage: not an SMTP reply" "$(jget "$OUT" 'd["hosts"][0]["addresses"][0]["reason"]')" "bad reply to connect: smtp: (not an SMTP reply code|NUL octet)"
case_ flood.tv.test 2 critical "smtp-ehlo-failed"
has "10 MB EHLO: cut at the cap" "$(jget "$OUT" 'd["hosts"][0]["addresses"][0]["reason"]')" "over 65536 octets|more than 512 lines"
case_ alert.tv.test 2 critical "tls-handshake-failed"
has "TLS alert: OpenSSL's reason" "$(jget "$OUT" 'd["hosts"][0]["addresses"][0]["reason"]')" "handshake failure"
case_ drop.tv.test 2 critical "tls-handshake-failed"
case_ b421.tv.test 2 critical "smtp-banner-failed"
has "421 greeting quoted" "$(jget "$OUT" 'd["hosts"][0]["addresses"][0]["banner"]')" "^421 "
case_ b554.tv.test 2 critical "smtp-banner-failed"

# ---------------------------------------------------------------- differential
# name host-for-TLSA address, for every DANE address of the scenario
diff_rows="ee.tv.test mx.ee.tv.test
ta.tv.test mx.ta.tv.test
second.tv.test mx.second.tv.test
cname.tv.test real.cn.test
multi.tv.test mx1.multi.tv.test
multi.tv.test mx2.multi.tv.test
forged.tv.test mx.forged.tv.test
half.tv.test mx1.half.tv.test
roll.tv.test mx1.roll.tv.test"
agree=0
while read -r dom tlsahost; do
    v "$dom"
    # every address of the host whose TLSA is at tlsahost (the CNAME target for cname)
    rows=$(jget "$OUT" '"\n".join("%s %s %s %s" % (h["host"], a["address"], a["dane_matched"], all(r["record"].startswith("3 ") for r in h["tlsa"])) for h in d["hosts"] for a in h["addresses"] if h["tlsa_name"] == "_25._tcp.'"$tlsahost"'.")')
    pf=$(timeout 60 "$TB/run" "$TESTBED_DIR" --ca -- posttls-finger -c -l dane "$dom" 2>&1)
    compared=
    while read -r host address matched ee_only; do
        [ -n "$host" ] || continue
        want=$([ "$matched" = True ] && echo verified || echo failed)
        # ldns-dane: the chain this address presents, the TLSA RRset via the testbed's resolver
        echo QUIT | timeout 20 openssl s_client -starttls smtp -connect "$address:25" \
            -servername "$host" -showcerts 2>/dev/null | sed -n '/BEGIN CERT/,/END CERT/p' >"$T/chain.pem"
        # ldns-dane checks names even for DANE-EE (RFC 6698), which RFC 7672
        # §3.1.1 drops for SMTP: -n for hosts whose records are all DANE-EE.
        nflag=$([ "$ee_only" = True ] && printf '%s' -n)
        # shellcheck disable=SC2086
        if timeout 20 "$TB/run" "$TESTBED_DIR" --ca -- ldns-dane $nflag -c "$T/chain.pem" verify "$tlsahost" 25 >"$T/ldns.out" 2>&1; then
            got=verified
        else
            got=failed
        fi
        check "ldns-dane agrees with mxtls: $host $address" "$got" "$want"
        # posttls-finger reports the address it connected to
        if printf '%s\n' "$pf" | grep -q "\[$address\]:25"; then
            if printf '%s\n' "$pf" | grep -q "Verified TLS connection established to [^ ]*\[$address\]"; then
                got=verified
            else
                got=failed
            fi
            check "posttls-finger agrees with mxtls: $host $address" "$got" "$want"
            compared=yes
        fi
    done <<<"$rows"
    [ -n "$compared" ] && agree=$((agree + 1))
done <<<"$diff_rows"
# 9 rows, 8 domains: posttls-finger stops at the first MX host of multi.tv.test
check "posttls-finger compared on every DANE domain" "$agree" 8

# ---------------------------------------------------------------- rollover (slot 41)
DIR2=$(mktemp -d /tmp/mxtls-testbed-XXXXXX)
if ! "$TB/up" "$SCN" --dir "$DIR2" --slot 41 --quiet >/dev/null; then
    not_ok "second testbed (slot 41) up"
    done_testing
    exit 1
fi
E2=$(set -a; . "$DIR2/testbed.env"; echo "$TESTBED_UNBOUND_CONF $TESTBED_CA")
# shellcheck disable=SC2086
config "$T/c41.yml" $E2

# roll TARGET ARGS...: run rollover --json on slot 41; sets OUT and RC
roll() {
    local target=$1
    shift
    OUT=$(timeout 60 "$MXTLS" tlsa rollover -c "$T/c41.yml" -t 5 --json "$@" "$target" 2>"$T/err")
    RC=$?
}
faults() { jget "$OUT" '" ".join(sorted(d["hosts_at_fault"]))'; }

# wait_cert HOST PEM: until HOST's peer (slot 41) presents PEM's certificate:
# `ctl rotate` signals the peer, which reloads within its poll interval.
wait_cert() {
    local want got i address
    want=$(openssl x509 -in "$2" -noout -fingerprint -sha256)
    address=$(awk -v n="$1" '$1 == n { print $2 }' "$DIR2/hosts.txt")
    for i in $(seq 1 50); do
        got=$(echo QUIT | timeout 10 openssl s_client -starttls smtp -connect "$address:25" \
            -servername "$1" 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null)
        [ "$got" = "$want" ] && return 0
        sleep 0.2
    done
    return 1
}

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/next.key" 2>/dev/null
NEXT=$("$MXTLS" tlsa gen --key "$T/next.key")
roll roll.tv.test --key "$T/next.key"
check "rollover, next key not published: exit 2" "$RC" 2
check "rollover, next key not published: both hosts named" "$(faults)" "mx1.roll.tv.test mx2.roll.tv.test"
has "rollover, not published: says what to publish" "$(jget "$OUT" 'd["findings"]')" "rollover-new-not-published.*publish"
OUT_H=$(timeout 60 "$MXTLS" tlsa rollover -c "$T/c41.yml" -t 5 --key "$T/next.key" roll.tv.test)
has "rollover human output: NOT SAFE" "$OUT_H" "NOT SAFE"

# the certbot hook refuses while rollover says no
mkdir -p "$T/lineage"
cp "$T/next.key" "$T/lineage/privkey.pem"
openssl req -x509 -new -key "$T/next.key" -subj /CN=mx1.roll.tv.test -days 30 \
    -out "$T/lineage/fullchain.pem" 2>/dev/null
hook() {
    RENEWED_LINEAGE="$T/lineage" RENEWED_DOMAINS="mx1.roll.tv.test" MXTLS="$MXTLS" \
        MXTLS_DOMAINS="roll.tv.test" MXTLS_CONFIG="$T/c41.yml" \
        MXTLS_INSTALL="touch $T/installed" "$HOOK" >"$T/hook.out" 2>&1
}
rm -f "$T/installed"
hook
check "certbot hook refuses while rollover says no" "$?:$([ -e "$T/installed" ] && echo installed)" "1:"

# publish the next key for mx1 only
cp "$SCN" "$T/r1.scn"
echo "tlsa _25._tcp.mx1.roll.tv.test $NEXT" >>"$T/r1.scn"
expect "publish the next key for mx1" "$TB/ctl" "$DIR2" reload "$T/r1.scn"
roll roll.tv.test --key "$T/next.key"
check "rollover, published for mx1 only: exit 2" "$RC" 2
check "rollover, published for mx1 only: mx2 named, mx1 not" "$(faults)" "mx2.roll.tv.test"

# publish it for both, and an extra record of mx1's current certificate (3 0 1)
OLD301=$("$MXTLS" tlsa gen -s 0 --cert "$DIR2/certs/mx1.roll.tv.test.pem")
cp "$T/r1.scn" "$T/r2.scn"
{
    echo "tlsa _25._tcp.mx2.roll.tv.test $NEXT"
    echo "tlsa _25._tcp.mx1.roll.tv.test $OLD301"
} >>"$T/r2.scn"
expect "publish the next key for mx2" "$TB/ctl" "$DIR2" reload "$T/r2.scn"
roll roll.tv.test --key "$T/next.key"
check "rollover, published for both: exit 0" "$RC" 0
check "rollover, published for both: safe, phase, wait = TTL" \
    "$(jget "$OUT" '(d["safe"], d["phase"], d["wait_seconds"], d["hosts_at_fault"])')" "(True, 'before', 60, [])"
rm -f "$T/installed"
hook
check "certbot hook installs when rollover says yes" "$?:$([ -e "$T/installed" ] && echo installed)" "0:installed"

# deploy a new certificate on mx1 (ctl rotate: new key, DNS republished)
expect "rotate mx1.roll.tv.test" "$TB/ctl" "$DIR2" rotate mx1.roll.tv.test
expect "mx1.roll.tv.test presents its new certificate" wait_cert mx1.roll.tv.test "$DIR2/certs/mx1.roll.tv.test.pem"
roll "[mx1.roll.tv.test]:25" --cert "$DIR2/certs/mx1.roll.tv.test.chain.pem"
check "after deploying: exit 0" "$RC" 0
check "after deploying: phase after" "$(jget "$OUT" 'd["phase"]')" "after"
check "after deploying: the old 3 0 1 and the unused next key are stale" \
    "$(jget "$OUT" 'sorted(s["message"].split("TLSA ")[-1][:5] for s in d["stale"])')" "['3 0 1', '3 1 1']"
has "after deploying: the stale 3 1 1 is the next key's" "$(jget "$OUT" 'd["stale"]')" "${NEXT#3 1 1 }"

# deploy on mx2 without updating the DNS: the guide's top failure mode
expect "rotate mx2.roll.tv.test --no-dns" "$TB/ctl" "$DIR2" rotate mx2.roll.tv.test --no-dns
expect "mx2.roll.tv.test presents its new certificate" wait_cert mx2.roll.tv.test "$DIR2/certs/mx2.roll.tv.test.pem"
roll "[mx2.roll.tv.test]:25" --cert "$DIR2/certs/mx2.roll.tv.test.chain.pem"
check "rotated without TLSA: exit 2" "$RC" 2
check "rotated without TLSA: mx2 named" "$(faults)" "mx2.roll.tv.test"
has "rotated without TLSA: current certificate matches nothing" "$(ids "$OUT")" "rollover-current-no-match"
OUT=$(timeout 60 "$MXTLS" tlsa verify -c "$T/c41.yml" -t 5 --json "[mx2.roll.tv.test]:25" 2>"$T/err")
check "verify agrees: rotated without TLSA is CRITICAL, no match" "$?:$(ids "$OUT")" "2:tlsa-no-match"

# usage errors
"$MXTLS" tlsa rollover roll.tv.test >/dev/null 2>&1
check "rollover without --cert/--key: exit 64" "$?" 64
"$MXTLS" tlsa verify >/dev/null 2>&1
check "verify without a target: exit 64" "$?" 64
"$MXTLS" tlsa rollover --key /nonexistent roll.tv.test >/dev/null 2>&1
check "rollover with a missing key file: exit 66" "$?" 66

done_testing

#!/bin/sh
# test_dns - DNSSEC through the testbed: signed names validate (AD), an
# unsigned child under a signed parent is provably insecure (no AD, answer),
# expired signatures, a DS matching no key and a lame delegation SERVFAIL.
. "$(dirname "$0")/lib.sh"
host_resolv=$(md5sum /etc/resolv.conf)
testbed_up "$TB/scenarios/basic.scn"

expect "unbound-checkconf accepts the generated unbound.conf" \
    unbound-checkconf "$TESTBED_DIR/unbound.conf"
expect "unbound-checkconf accepts the libunbound fragment" \
    unbound-checkconf "$TESTBED_UNBOUND_CONF"

out=$(qdig +dnssec MX good.test)
has "signed good.test MX: NOERROR" "$out" "status: NOERROR"
has "signed good.test MX: AD bit" "$out" "flags:[ a-z]* ad[ ;]"
has "signed good.test MX: RRSIG present" "$out" "RRSIG[[:space:]]+MX 13 "
out=$(qdig +dnssec A mx1.good.test)
has "signed mx1.good.test A: AD, testbed address" "$out" "mx1.good.test.*IN[[:space:]]+A[[:space:]]+$(addr mx1.good.test)"
has "signed mx1.good.test A: AD bit" "$out" "flags:[ a-z]* ad[ ;]"

out=$(qdig +dnssec MX insecure.test)
has "insecure.test MX: NOERROR with the answer" "$out" "insecure.test.*MX[[:space:]]+10 mx.insecure.test."
hasnt "insecure.test MX: no AD bit" "$out" "flags:[ a-z]* ad[ ;]"
out=$(qdig +dnssec DS insecure.test)
has "insecure.test: parent proves no DS (signed NSEC, AD)" "$out" "flags:[ a-z]* ad[ ;]"
has "insecure.test: NSEC in the authority section" "$out" "insecure.test.*NSEC"

for z in bogus-sig.test bogus-ds.test lame.test; do
    out=$(qdig +dnssec MX $z)
    has "$z MX: SERVFAIL" "$out" "status: SERVFAIL"
done
out=$(qdig +dnssec +cd MX bogus-sig.test)
has "bogus-sig.test with +cd: the data is there (only validation fails)" "$out" "MX[[:space:]]+10 mx.bogus-sig.test."
has "bogus-sig.test: its RRSIG expired in 2020" "$out" "RRSIG[[:space:]]+MX .* 2020"
out=$(qdig +dnssec +cd DNSKEY bogus-ds.test)
has "bogus-ds.test with +cd: DNSKEY served, signed" "$out" "RRSIG[[:space:]]+DNSKEY"

out=$(qdig +short TXT _smtp._tls.good.test)
check "multi-string TXT keeps its strings" "$out" '"v=TLSRPTv1; " "rua=mailto:tlsrpt@good.test"'
out=$(qdig +short TXT _mta-sts.good.test)
check "MTA-STS TXT" "$out" '"v=STSv1; id=20240101T000000Z"'
out=$(qdig +short A www.insecure.test)
check "explicit address honoured" "$out" "127.9.0.1"

# TLSA auto: the record equals what the guide's pipeline computes from the
# certificate the host serves on port 25.
served=$(echo QUIT | openssl s_client -connect "$(addr mx1.good.test):25" -starttls smtp \
    -servername mx1.good.test 2>/dev/null | openssl x509 -noout -pubkey |
    openssl pkey -pubin -outform DER | sha256sum | awk '{print $1}')
published=$(qdig +short TLSA _25._tcp.mx1.good.test | awk '$1 == 3 && $2 == 1 && $3 == 1 { print tolower($4 $5) }')
check "TLSA 3 1 1 auto matches the served key" "$published" "$served"
ca=$(openssl x509 -in "$TESTBED_CA" -outform DER | sha256sum | awk '{print $1}')
published=$(qdig +short TLSA _25._tcp.mx2.good.test | awk '{ print tolower($4 $5) }')
check "TLSA 2 0 1 auto pins the test CA (the real mx2's issuer, not the forger's)" "$published" "$ca"

# The same answers through the system resolver API, inside a private mount
# namespace that sees the testbed's resolv.conf.
out=$("$TB/run" "$TESTBED_DIR" -- getent hosts mx1.good.test)
has "getent (glibc) in 'run' resolves through the testbed" "$out" "^$(addr mx1.good.test) "
out=$("$TB/run" "$TESTBED_DIR" -- dig +dnssec MX good.test)
has "dig in 'run' uses the testbed unbound, gets AD" "$out" "flags:[ a-z]* ad[ ;]"

# libunbound with the fragment, as mxtlsd will use it
expect "libunbound with the fragment: secure / insecure / bogus" \
    /usr/bin/python3 "$TB/ub_check.py" "$TESTBED_UNBOUND_CONF" \
    good.test=secure insecure.test=insecure bogus-sig.test=bogus bogus-ds.test=bogus

check "host /etc/resolv.conf untouched" "$(md5sum /etc/resolv.conf)" "$host_resolv"
done_testing

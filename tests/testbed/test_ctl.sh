#!/bin/sh
# test_ctl - changing a running testbed: rotating a certificate republishes
# its TLSA (auto) and the peer serves the new key; rotating with --no-dns
# leaves DANE failing (the guide's "rotated without TLSA update"); reloading
# an edited scenario re-signs the zones (including changing a zone's kind).
. "$(dirname "$0")/lib.sh"
testbed_up "$TB/scenarios/basic.scn"

served() { # HOST: SHA-256 of the SPKI the host serves on port 25
    echo QUIT | timeout 20 openssl s_client -connect "$(addr "$1"):25" -starttls smtp 2>/dev/null |
        openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | awk '{print $1}'
}
published() { qdig +short TLSA "_25._tcp.$1" | awk '{ print tolower($4 $5) }'; }
dane() { # HOST: s_client with the published TLSA
    echo QUIT | timeout 20 openssl s_client -connect "$(addr "$1"):25" -starttls smtp \
        -dane_tlsa_domain "$1" -dane_tlsa_rrdata "$(qdig +short TLSA "_25._tcp.$1" |
        awk '{ print $1, $2, $3, $4 $5 }')" -verify_return_error 2>&1
}

before=$(served mx1.good.test)
check "before: published TLSA matches the served key" "$(published mx1.good.test)" "$before"
expect "ctl rotate mx1.good.test" "$TB/ctl" "$TESTBED_DIR" rotate mx1.good.test
after=$(served mx1.good.test)
if [ -n "$after" ] && [ "$after" != "$before" ]; then ok "after rotate: a new key is served"; else not_ok "after rotate: key unchanged"; fi
check "after rotate: the TLSA follows (auto), seen through unbound at once" "$(published mx1.good.test)" "$after"
has "after rotate: DANE verifies" "$(dane mx1.good.test)" "Verify return code: 0 \(ok\)"

expect "ctl rotate --no-dns (forgot the TLSA)" "$TB/ctl" "$TESTBED_DIR" rotate mx1.good.test --no-dns
check "after --no-dns: the old TLSA is still published" "$(published mx1.good.test)" "$after"
hasnt "after --no-dns: DANE fails" "$(dane mx1.good.test || true)" "Verify return code: 0 \(ok\)"

edited=$TESTBED_DIR/edited.scn
sed -e 's/id=20240101T000000Z/id=20250202T000000Z/' \
    -e 's/^zone insecure.test insecure/zone insecure.test signed/' \
    -e 's/^zone bogus-sig.test bogus-sig/zone bogus-sig.test signed/' "$TB/scenarios/basic.scn" > "$edited"
expect "ctl reload with an edited scenario" "$TB/ctl" "$TESTBED_DIR" reload "$edited"
check "reload: new MTA-STS id" "$(qdig +short TXT _mta-sts.good.test)" '"v=STSv1; id=20250202T000000Z"'
has "reload: insecure.test is now signed (AD)" "$(qdig +dnssec MX insecure.test)" "flags:[ a-z]* ad[ ;]"
has "reload: bogus-sig.test re-signed validly (AD)" "$(qdig +dnssec MX bogus-sig.test)" "flags:[ a-z]* ad[ ;]"
has "reload: bogus-ds.test still SERVFAIL" "$(qdig MX bogus-ds.test)" "status: SERVFAIL"
done_testing

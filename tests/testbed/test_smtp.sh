#!/bin/sh
# test_smtp - the SMTP peers on port 25 of their MX addresses, seen by
# openssl s_client -starttls smtp and by curl as a mail client: the good MX
# offers STARTTLS with the scenario's certificate (WebPKI with the test CA and
# DANE with the published TLSA both verify); the stripping attacker offers no
# STARTTLS; the forging attacker completes STARTTLS with a certificate that
# neither verifies. Every peer accepts mail and records whether TLS was used.
. "$(dirname "$0")/lib.sh"
testbed_up "$TB/scenarios/basic.scn"

sclient() { # HOST [ARGS]: s_client STARTTLS to HOST's address, QUIT at once
    h=$1; shift
    echo QUIT | timeout 20 openssl s_client -connect "$(addr "$h"):25" -starttls smtp \
        -servername "$h" -CAfile "$TESTBED_CA" -verify_return_error "$@" 2>&1
}
tlsa() { qdig +short TLSA "_25._tcp.$1" | head -n 1 | awk '{ print $1, $2, $3, $4 $5 }'; }

out=$(sclient mx1.good.test -verify_hostname mx1.good.test)
has "good: STARTTLS, TLS established" "$out" "^New, TLSv1.3|Protocol *: TLSv1.3"
has "good: serves the scenario's certificate" "$out" "subject=CN *= *mx1.good.test"
has "good: issued by the test CA, chain sent" "$out" "1 s:CN *= *mxtls testbed ca"
has "good: WebPKI verification with the test CA" "$out" "Verify return code: 0 \(ok\)"
out=$(sclient mx1.good.test -dane_tlsa_domain mx1.good.test -dane_tlsa_rrdata "$(tlsa mx1.good.test)")
has "good: DANE with the published TLSA 3 1 1" "$out" "DANE TLSA 3 1 1 .*matched EE certificate"
has "good: DANE verification ok" "$out" "Verify return code: 0 \(ok\)"

out=$(sclient mx.insecure.test || true)
has "strip: no STARTTLS in the EHLO reply" "$out" "Didn't find STARTTLS"
has "strip: no TLS session" "$out" "^New, \(NONE\), Cipher is \(NONE\)"
hasnt "strip: no cipher negotiated" "$out" "Cipher is TLS"

out=$(sclient mx2.good.test -verify_hostname mx2.good.test || true)
has "forge: STARTTLS offered, a certificate for the same name" "$out" "0 s:CN *= *mx2.good.test"
has "forge: issued by the attacker's CA" "$out" "i:CN *= *mxtls testbed attacker-ca"
has "forge: WebPKI verification with the test CA fails" "$out" "Verification error: |certificate verify failed"
hasnt "forge: not verified" "$out" "Verify return code: 0 \(ok\)"
out=$(sclient mx2.good.test -dane_tlsa_domain mx2.good.test -dane_tlsa_rrdata "$(tlsa mx2.good.test)" || true)
hasnt "forge: the published TLSA 2 0 1 (test CA) does not match" "$out" "Verify return code: 0 \(ok\)"

# Mail delivery with a real client (curl); each peer records what it received.
msg=$TESTBED_DIR/msg.txt
printf 'From: a@sender.test\r\nTo: b@good.test\r\nSubject: testbed %s\r\n\r\nhello\r\n' "$$" > "$msg"
send() { # HOST [CURL ARGS]
    h=$1; shift
    curl -sS --max-time 20 --resolve "$h:25:$(addr "$h")" "smtp://$h" --mail-from a@sender.test \
        --mail-rcpt b@good.test -T "$msg" --cacert "$TESTBED_CA" "$@"
}
log() { cat "$TESTBED_SMTP_LOG" 2>/dev/null || true; }
expect "deliver to the good MX with --ssl-reqd" send mx1.good.test --ssl-reqd
has "good MX logged the message as received over TLS" "$(log)" '"host": "mx1.good.test".*"tls": true, "tls_version": "TLSv1.3".*"rcpt": \["b@good.test"\]'
expect_fail "--ssl-reqd refuses the stripping attacker" send mx.insecure.test --ssl-reqd
hasnt "nothing reached the stripper over --ssl-reqd" "$(log)" '"host": "mx.insecure.test"'
expect "a plaintext client delivers to the stripper" send mx.insecure.test
has "stripper logged the message as plaintext" "$(log)" '"host": "mx.insecure.test".*"tls": false'
expect_fail "--ssl-reqd with the test CA refuses the forger" send mx2.good.test --ssl-reqd
expect "an unauthenticated TLS client (-k) delivers to the forger" send mx2.good.test --ssl-reqd -k
has "forger logged the message as received over TLS" "$(log)" '"host": "mx2.good.test".*"tls": true'
check "three messages recorded" "$(log | wc -l)" "3"
f=$(ls "$TESTBED_MAIL_DIR" | head -n 1)
has "message stored in full" "$(cat "$TESTBED_MAIL_DIR/$f")" "^Subject: testbed $$"
done_testing

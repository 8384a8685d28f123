#!/bin/sh
# test_https - MTA-STS policy hosts: curl --cacert sees each serving
# behaviour (status, headers, redirect, size, chunking, trickle) and refuses
# the bad certificates (self-signed, wrong name, expired, attacker CA).
. "$(dirname "$0")/lib.sh"
testbed_up "$TB/scenarios/https.scn"

url() { echo "https://mta-sts.$1/.well-known/mta-sts.txt"; }
# get DOMAIN [CURL ARGS]: headers and body, resolved to the testbed address
get() {
    d=$1; shift
    curl -sS -i --max-time 10 --cacert "$TESTBED_CA" \
        --resolve "mta-sts.$d:443:$(addr "mta-sts.$d")" "$@" "$(url "$d")"
}
# rc DOMAIN [CURL ARGS]: curl's exit status and error message
rc() {
    d=$1; shift
    curl -sS -o /dev/null --max-time 10 --cacert "$TESTBED_CA" \
        --resolve "mta-sts.$d:443:$(addr "mta-sts.$d")" "$@" "$(url "$d")" 2>&1 && echo "rc=0" ||
        echo "rc=$?"
}

out=$(get ok.test)
has "ok: 200" "$out" "^HTTP/1.1 200 "
has "ok: Content-Type text/plain" "$out" "^Content-Type: text/plain"
has "ok: extra header" "$out" "^Cache-Control: max-age=60"
has "ok: policy from the MX list" "$out" "^mx: mx2.ok.test"
has "ok: mode enforce" "$out" "^mode: enforce"
out=$(get custom.test)
has "custom: written policy lines, CRLF" "$out" "$(printf '^mx: \\*.custom.test\r$')"
has "custom: mode testing" "$out" "^mode: testing"
out=$(get notfound.test)
has "notfound: 404" "$out" "^HTTP/1.1 404 "
out=$(get error.test)
has "error: 500" "$out" "^HTTP/1.1 500 "
out=$(get redirect.test)
has "redirect: 301" "$out" "^HTTP/1.1 301 "
has "redirect: Location" "$out" "^Location: https://mta-sts.ok.test/.well-known/mta-sts.txt"
out=$(get html.test)
has "html: Content-Type text/html" "$out" "^Content-Type: text/html"
out=$(get charset.test)
has "charset: Content-Type with parameter" "$out" "^Content-Type: text/plain; charset=utf-8"
out=$(get big.test -o /dev/null -D -)
len=$(printf '%s\n' "$out" | tr -d '\r' | awk 'tolower($1) == "content-length:" { print $2 }')
if [ "${len:-0}" -gt 65536 ]; then ok "big: static Content-Length $len > 64 KiB"; else not_ok "big: Content-Length '$len'"; fi
out=$(get chunked.test -o /dev/null -D -)
has "chunked: Transfer-Encoding chunked" "$out" "^Transfer-Encoding: chunked"
hasnt "chunked: no Content-Length" "$out" "^Content-Length:"
size=$(curl -sS --cacert "$TESTBED_CA" --resolve "mta-sts.chunked.test:443:$(addr mta-sts.chunked.test)" \
    "$(url chunked.test)" | wc -c)
if [ "$size" -gt 65536 ]; then ok "chunked: body $size octets > 64 KiB"; else not_ok "chunked: body $size"; fi
out=$(rc slow.test --max-time 2)
has "slow: body still trickling after 2 s (curl timeout)" "$out" "rc=28"

for d in selfsigned wrongname expired forged; do
    out=$(rc $d.test)
    has "$d: curl --cacert refuses the certificate" "$out" "rc=60"
done
has "wrongname: the reason is the name" "$(rc wrongname.test)" "subject name|does not match"
has "expired: the reason is the date" "$(rc expired.test)" "expired"
has "forged: accepted only with the attacker's CA" \
    "$(curl -sS -o /dev/null --cacert "$TESTBED_ATTACKER_CA" \
        --resolve "mta-sts.forged.test:443:$(addr mta-sts.forged.test)" "$(url forged.test)" && echo rc=0)" "rc=0"
has "selfsigned: accepted with -k (so it is the certificate, not the server)" "$(rc selfsigned.test -k)" "rc=0"

# Names resolved through the testbed's DNS, CA from the (bind-mounted) system
# store: what a program that cannot be told where to look sees.
out=$("$TB/run" "$TESTBED_DIR" --ca -- curl -sS -i --max-time 10 "$(url ok.test)")
has "run --ca: curl with no options fetches the policy" "$out" "^HTTP/1.1 200 "
out=$("$TB/run" "$TESTBED_DIR" --ca -- curl -sS -o /dev/null --max-time 10 "$(url selfsigned.test)" 2>&1 || true)
has "run --ca: and still refuses the self-signed host" "$out" "self-signed|self signed"
done_testing

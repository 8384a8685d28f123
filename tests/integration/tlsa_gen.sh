#!/bin/bash
# tlsa_gen.sh - `mxtls tlsa gen` (issue 11): the TLSA records to publish for
# a certificate or key, checked against three independent makers and one
# verifier. No testbed: certificates are made with openssl in a scratch
# directory.
#
#   tlsa_gen.sh MXTLS
#
# Asserts, for an EC, an RSA and an Ed25519 server key, each issued by a
# test CA through an intermediate:
#   - the default record (3 1 1) is byte for byte what the hardening guide's
#     pipeline prints (openssl x509 -pubkey | openssl pkey -pubin -outform
#     DER | sha256sum), in lower-case hex, and --key on the private or the
#     public key gives the same record;
#   - every usable usage/selector/matching type (2|3, 0|1, 0|1|2; RFC 6698
#     §2.1, RFC 7672 §3.1) gives the same zone-file line as hash-slinger's
#     `tlsa --create --certificate` (which reads a local certificate file
#     offline) and as `ldns-dane -c FILE create`, with --host and --port;
#     usage 0/1 with --force as hash-slinger;
#   - OpenSSL's DANE verifier (the one Postfix uses), as `openssl s_client
#     -dane_tlsa_rrdata` against an `openssl s_server` on 127.0.0.1 serving
#     the chain, accepts every generated 2 x x and 3 x x record, and rejects
#     a 3 1 1 of the wrong certificate; `s_client -showcerts | mxtls tlsa gen
#     --cert -` gives the served leaf's and issuer's records;
#   - usage 2 takes the leaf's issuer from a chain file wherever it sits, and
#     a CA certificate given alone; a lone leaf is refused;
#   - the lines load in ldns-read-zone; --json holds the same record;
#   - exit 64 for usage errors (usage 0/1 without --force, --key with
#     selector 0, --port without --host, no input, bad values), 65 for bad
#     data (not a certificate, a bad host name, an encrypted key), 66 for a
#     missing file, and nothing on stdout when it fails.
set -uo pipefail
MXTLS=${1:?usage: tlsa_gen.sh MXTLS}
MXTLS=$(realpath "$MXTLS") || exit 1
for tool in openssl tlsa ldns-dane ldns-read-zone python3; do
    command -v "$tool" >/dev/null || {
        echo "tlsa_gen.sh: $tool is missing (scripts/deps test: hash-slinger, ldnsutils)" >&2
        exit 1
    }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/mxtls-tlsa-gen.XXXXXX")
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$T"
}
trap cleanup EXIT

fails=0
checks=0
ok() { checks=$((checks + 1)); }
fail() {
    checks=$((checks + 1))
    fails=$((fails + 1))
    echo "FAIL: $*" >&2
}
# same WHAT GOT WANT
same() {
    if [ "$2" = "$3" ]; then ok; else fail "$1: got '$2', want '$3'"; fi
}
# status WANT WHAT CMD... - the exit status, and an empty stdout on failure
status() {
    local want=$1 what=$2 out rc
    shift 2
    out=$("$@" 2>"$T/stderr")
    rc=$?
    if [ "$rc" != "$want" ]; then
        fail "$what: exit $rc, want $want ($(head -c 300 "$T/stderr"))"
    elif [ "$want" != 0 ] && [ -n "$out" ]; then
        fail "$what: exit $rc but printed '$out'"
    elif [ "$want" != 0 ] && ! grep -q "^mxtls tlsa" "$T/stderr"; then
        fail "$what: exit $rc without a message"
    else
        ok
    fi
}

# ---- certificates: root CA -> intermediate CA -> leaf (EC, RSA, Ed25519)
cd "$T" || exit 1
q() { "$@" >/dev/null 2>&1 || { echo "tlsa_gen.sh: setup failed: $*" >&2; exit 1; }; }
q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key \
    -out root.pem -days 30 -subj /CN=Test-Root -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout inter.key \
    -out inter.csr -subj /CN=Test-Intermediate
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >ca.ext
q openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -CAcreateserial -days 30 \
    -out inter.pem -extfile ca.ext
printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:mx.example.test\n' >leaf.ext
for kind in ec rsa ed25519; do
    case $kind in
    ec) q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $kind.key ;;
    rsa) q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $kind.key ;;
    ed25519) q openssl genpkey -algorithm ED25519 -out $kind.key ;;
    esac
    q openssl req -new -key $kind.key -out $kind.csr -subj /CN=mx.example.test
    q openssl x509 -req -in $kind.csr -CA inter.pem -CAkey inter.key -CAcreateserial -days 30 \
        -out $kind.pem -extfile leaf.ext
    q openssl pkey -in $kind.key -pubout -out $kind.pub
    cat $kind.pem inter.pem >$kind-full.pem      # a "fullchain" file
    cat $kind.pem inter.pem root.pem >$kind-all.pem
done
q openssl pkey -in ec.key -aes128 -passout pass:secret -out ec-enc.key

# ---- 3 1 1 is the guide's pipeline, byte for byte (RFC 7672 §3.1.1)
for kind in ec rsa ed25519; do
    guide=$(openssl x509 -in $kind.pem -noout -pubkey | openssl pkey -pubin -outform DER |
        sha256sum | awk '{print $1}')
    same "$kind: default record = guide pipeline" "$("$MXTLS" tlsa gen --cert $kind.pem)" \
        "3 1 1 $guide"
    same "$kind: fullchain file gives the leaf's" "$("$MXTLS" tlsa gen --cert $kind-full.pem)" \
        "3 1 1 $guide"
    same "$kind: --key private key" "$("$MXTLS" tlsa gen --key $kind.key)" "3 1 1 $guide"
    same "$kind: --key public key" "$("$MXTLS" tlsa gen --key $kind.pub)" "3 1 1 $guide"
    same "$kind: --cert - reads stdin" "$("$MXTLS" tlsa gen --cert - <$kind-full.pem)" \
        "3 1 1 $guide"
    same "$kind: --host line" "$("$MXTLS" tlsa gen --cert $kind.pem --host MX.Example.TEST.)" \
        "_25._tcp.mx.example.test. IN TLSA 3 1 1 $guide"
done

# ---- every usable record against hash-slinger, ldns-dane and OpenSSL's DANE verifier
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# s_server serves ec.pem with the intermediate, like a real MX (RFC 7671 §5.2.2
# wants the TA in the chain); -naccept bounds it even if the trap is missed.
openssl s_server -quiet -accept "127.0.0.1:$port" -cert ec.pem -key ec.key -cert_chain inter.pem \
    -naccept 40 </dev/null >/dev/null 2>"$T/s_server.log" &
SERVER_PID=$!
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
# dane_ok RR - 0 when OpenSSL's DANE verifier accepts the server's chain with RR
dane_ok() {
    timeout 20 openssl s_client -connect "127.0.0.1:$port" -brief -verify_return_error \
        -dane_tlsa_domain mx.example.test -dane_tlsa_rrdata "$1" </dev/null >"$T/s_client.log" 2>&1 &&
        grep -q "^Verification: OK" "$T/s_client.log"
}

for u in 3 2; do
    for s in 0 1; do
        for m in 0 1 2; do
            rec="$u $s $m"
            mine=$("$MXTLS" tlsa gen --cert ec-full.pem -u $u -s $s -m $m --host mx.example.test)
            # hash-slinger asks "Use this as certificate to match?" for each CA
            # candidate but the last; "n" for the leaf makes it take the issuer.
            hs=$(printf 'n\n' | timeout 60 tlsa --create --certificate ec-full.pem --port 25 \
                --usage $u --selector $s --mtype $m mx.example.test 2>&1 | grep -o '_25\._tcp\..*')
            same "$rec: hash-slinger tlsa --create" "$mine" "$hs"
            # ldns-dane's usage 2 takes the self-signed end of the chain unless
            # told "-o 1": one from the end of leaf+intermediate+root.
            if [ $u = 2 ]; then ldargs=(-c ec-all.pem -o 1); else ldargs=(-c ec-full.pem); fi
            ld=$(timeout 60 ldns-dane "${ldargs[@]}" create mx.example.test 25 $u $s $m 2>&1 |
                awk '/^_25\._tcp\./ {print $1, $3, $4, $5, $6, $7, $8}')
            same "$rec: ldns-dane create" "$mine" "$ld"
            rdata=${mine#* IN TLSA }
            if dane_ok "$rdata"; then ok; else fail "$rec: OpenSSL DANE rejects it: $(cat "$T/s_client.log")"; fi
        done
    done
done
if dane_ok "$("$MXTLS" tlsa gen --cert rsa.pem)"; then
    fail "OpenSSL DANE accepts the 3 1 1 of another certificate: the check cannot fail"
else
    ok
fi
# what a live server presents, piped from s_client -showcerts (mxtls(1) EXAMPLES)
openssl s_client -connect "127.0.0.1:$port" -showcerts </dev/null >"$T/showcerts" 2>/dev/null
same "s_client -showcerts | tlsa gen --cert -: the leaf" "$("$MXTLS" tlsa gen --cert - <"$T/showcerts")" \
    "$("$MXTLS" tlsa gen --cert ec.pem)"
same "s_client -showcerts | tlsa gen -u 2 --cert -: the issuer" \
    "$("$MXTLS" tlsa gen -u 2 --cert - <"$T/showcerts")" "$("$MXTLS" tlsa gen -u 2 --cert inter.pem)"
# usage 0 and 1 (PKIX) with --force, as hash-slinger makes them
for u in 0 1; do
    mine=$("$MXTLS" tlsa gen --force --cert ec-full.pem -u $u --host mx.example.test 2>"$T/stderr")
    hs=$(printf 'n\n' | timeout 60 tlsa --create --certificate ec-full.pem --port 25 \
        --usage $u --selector 1 --mtype 1 mx.example.test 2>&1 | grep -o '_25\._tcp\..*')
    same "$u 1 1 --force: hash-slinger" "$mine" "$hs"
    if grep -q "warning: .*RFC 7672 §3.1.3" "$T/stderr"; then ok; else fail "$u 1 1 --force: no warning"; fi
done

# ---- which certificate usage 2 takes
inter311=$(openssl x509 -in inter.pem -noout -pubkey | openssl pkey -pubin -outform DER |
    sha256sum | awk '{print $1}')
root311=$(openssl x509 -in root.pem -noout -pubkey | openssl pkey -pubin -outform DER |
    sha256sum | awk '{print $1}')
same "2 1 1 of leaf+intermediate+root: the leaf's issuer" \
    "$("$MXTLS" tlsa gen -u 2 --cert ec-all.pem)" "2 1 1 $inter311"
hs=$(printf 'n\ny\n' | timeout 60 tlsa --create --certificate ec-all.pem --port 25 --usage 2 \
    --selector 1 --mtype 1 mx.example.test 2>&1 | grep -o '_25\._tcp\..*')
same "2 1 1 of a three-certificate chain: hash-slinger (leaf no, intermediate yes)" \
    "$("$MXTLS" tlsa gen -u 2 --cert ec-all.pem --host mx.example.test)" "$hs"
same "2 1 1: the issuer is found by signature" "$("$MXTLS" tlsa gen -u 2 --cert <(cat ec.pem root.pem inter.pem))" \
    "2 1 1 $inter311"
same "2 1 1 of a CA certificate alone" "$("$MXTLS" tlsa gen -u DANE-TA --cert root.pem)" \
    "2 1 1 $root311"
status 65 "2 1 1 of a lone leaf" "$MXTLS" tlsa gen -u 2 --cert ec.pem
status 65 "2 1 1 when the file lacks the issuer" "$MXTLS" tlsa gen -u 2 --cert <(cat ec.pem root.pem)

# ---- several inputs and hosts: one line per host and distinct record
out=$("$MXTLS" tlsa gen --cert ec-full.pem --key ec.key --key rsa.pub --host a.example.test \
    --host b.example.test -p 587)
ec311=$("$MXTLS" tlsa gen --cert ec.pem)
rsa311=$("$MXTLS" tlsa gen --cert rsa.pem)
same "rollover: current and next key, two hosts, duplicates dropped" "$out" \
"_587._tcp.a.example.test. IN TLSA $ec311
_587._tcp.a.example.test. IN TLSA $rsa311
_587._tcp.b.example.test. IN TLSA $ec311
_587._tcp.b.example.test. IN TLSA $rsa311"

# ---- the lines are zone-file text (RFC 6698 §2.2) that ldns reads
{
    echo '$ORIGIN example.test.'
    echo '$TTL 300'
    echo '@ IN SOA ns hostmaster 1 3600 600 86400 300'
    "$MXTLS" tlsa gen --cert rsa-full.pem -s 0 -m 0 --host mx.example.test
    "$MXTLS" tlsa gen --cert rsa-full.pem -u 2 -m 2 --host mx.example.test
} >zone.db
if n=$(ldns-read-zone zone.db 2>"$T/stderr" | grep -c 'IN	TLSA'); [ "$n" = 2 ]; then ok; else
    fail "ldns-read-zone: $n TLSA records ($(cat "$T/stderr"))"
fi

# ---- --json
json=$("$MXTLS" tlsa gen --json --cert ec-full.pem --host mx.example.test)
line=$("$MXTLS" tlsa gen --cert ec-full.pem --host mx.example.test)
got=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
r = d["records"]
assert len(r) == 1, r
r = r[0]
assert r["usable"] is True and "why" not in r, r
assert (r["usage"], r["selector"], r["mtype"]) == (3, 1, 1), r
assert r["owner"] == "_25._tcp.mx.example.test." and r["port"] == 25, r
assert r["record"] == "3 1 1 " + r["data"] and r["kind"] == "cert" and r["certificate"] == 1, r
print(r["line"])' "$json" 2>&1)
same "--json line" "$got" "$line"
got=$(python3 -c '
import json, sys
r = json.loads(sys.argv[1])["records"][0]
print(r["usable"], r["why"], r["owner"])' "$("$MXTLS" tlsa gen --json --force -u 1 --key ec.pub 2>/dev/null)")
same "--json of a forced PKIX-EE record" "$got" \
    "False usage 1 (PKIX-EE) is not usable for SMTP, RFC 7672 §3.1.3 None"

# ---- refusals (exit codes: mxtls(1))
status 64 "usage 1 without --force (RFC 7672 §3.1.3)" "$MXTLS" tlsa gen -u 1 --cert ec.pem
status 64 "usage 0 without --force" "$MXTLS" tlsa gen -u PKIX-TA --cert ec-full.pem
status 64 "--key with selector 0" "$MXTLS" tlsa gen --key ec.key -s 0
status 64 "--port without --host" "$MXTLS" tlsa gen --cert ec.pem -p 25
status 64 "no input" "$MXTLS" tlsa gen --host mx.example.test
status 64 "usage 4" "$MXTLS" tlsa gen -u 4 --cert ec.pem
status 64 "selector 2" "$MXTLS" tlsa gen -s 2 --cert ec.pem
status 64 "matching type 3" "$MXTLS" tlsa gen -m 3 --cert ec.pem
status 64 "port 0" "$MXTLS" tlsa gen -p 0 --host mx.example.test --cert ec.pem
status 64 "port 65536" "$MXTLS" tlsa gen -p 65536 --host mx.example.test --cert ec.pem
status 64 "a stray argument" "$MXTLS" tlsa gen --cert ec.pem mx.example.test
status 64 "stdin twice" "$MXTLS" tlsa gen --cert - --key -
status 64 "unknown tlsa subcommand" "$MXTLS" tlsa frobnicate
status 65 "a key file given as --cert" "$MXTLS" tlsa gen --cert ec.key
status 65 "a certificate given as --key" "$MXTLS" tlsa gen --key ec.pem
status 65 "an encrypted key" "$MXTLS" tlsa gen --key ec-enc.key
status 65 "an empty file" "$MXTLS" tlsa gen --cert /dev/null
status 65 "a bad host name" "$MXTLS" tlsa gen --cert ec.pem --host 'mx_1.example.test'
status 65 "a file over 256 KiB" "$MXTLS" tlsa gen --cert <(head -c 300000 /dev/zero)
status 66 "a missing file" "$MXTLS" tlsa gen --cert "$T/nonexistent.pem"
status 0 "--help" "$MXTLS" tlsa gen --help
if grep -q "AddressSanitizer\|runtime error" "$T/stderr" "$T"/*.log 2>/dev/null; then
    fail "sanitizer report"
fi

echo "tlsa_gen.sh: $checks checks, $fails failed"
[ "$fails" -eq 0 ]

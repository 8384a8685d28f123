#!/bin/sh
# test_scale - a 50-domain scenario (50 zones, half signed with TLSA, 50 SMTP
# peers, 50 MTA-STS hosts) comes up and goes down in seconds, works, and
# leaves nothing running. The times are printed, not asserted.
. "$(dirname "$0")/lib.sh"
scn=$(mktemp /tmp/mxtls-scale-XXXXXX.scn)
trap 'rm -f "$scn"' EXIT
i=1
while [ $i -le 50 ]; do
    d=$(printf 'd%02d.test' $i)
    if [ $((i % 2)) -eq 1 ]; then kind=signed; else kind=insecure; fi
    cat >> "$scn" <<EOS
zone $d $kind
mx $d 10 mx.$d
smtp mx.$d good
tlsa _25._tcp.mx.$d 3 1 1 auto
txt _mta-sts.$d "v=STSv1; id=$i"
sts $d
EOS
    i=$((i + 1))
done

now() { date +%s.%N; }
t0=$(now)
testbed_up "$scn"
t1=$(now)
trap 'rm -f "$scn"; tb_teardown' EXIT

out=$(qdig +dnssec TLSA _25._tcp.mx.d49.test)
has "d49 (signed): TLSA with AD" "$out" "flags:[ a-z]* ad[ ;]"
out=$(qdig +dnssec MX d50.test)
has "d50 (insecure): MX without AD" "$out" "MX[[:space:]]+10 mx.d50.test."
hasnt "d50 (insecure): no AD" "$out" "flags:[ a-z]* ad[ ;]"
out=$(curl -sS --cacert "$TESTBED_CA" --resolve "mta-sts.d37.test:443:$(addr mta-sts.d37.test)" \
    https://mta-sts.d37.test/.well-known/mta-sts.txt)
has "d37: policy served" "$out" "^mx: mx.d37.test"
out=$(echo QUIT | timeout 20 openssl s_client -connect "$(addr mx.d25.test):25" -starttls smtp \
    -CAfile "$TESTBED_CA" -verify_return_error -verify_hostname mx.d25.test 2>&1)
has "d25: STARTTLS verified" "$out" "Verify return code: 0 \(ok\)"

pids=$(awk '{ print $2 }' "$TB_DIR/pids")
dir=$TB_DIR
t2=$(now)
"$TB/down" "$dir"
t3=$(now)
TB_DIR=
left=
for p in $pids; do
    if [ -e /proc/$p ] && ! grep -q '^State:.*Z' /proc/$p/status 2>/dev/null; then left="$left $p"; fi
done
check "every recorded PID ($(echo $pids | wc -w) processes) is gone" "$left" ""
stray=$(printf "%s\n" "$dir" | grep -l -s -F -f - /proc/[0-9]*/cmdline || true)
check "no process mentions the testbed directory" "$stray" ""
check "the directory is removed" "$(ls -d "$dir" 2>/dev/null)" ""
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
    printf "# 50 domains: up %.2f s, down %.2f s, up+down %.2f s\n", b - a, d - c, (b - a) + (d - c) }'
done_testing

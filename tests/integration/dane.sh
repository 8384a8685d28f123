#!/bin/bash
# dane.sh - mxtlsd's DANE path (RFC 7672) through the real Postfix client.
#
# Brings up the testbed with scenarios/dane.scn (slot 5 unless TESTBED_SLOT
# says otherwise), starts mxtlsd (the path is the first argument) on
# 127.0.0.1:18465 with an SQLite cache and the zones the cases name, and
#
#   - checks that the scenario's "2 1 1 auto" TLSA records are what the issue
#     asks for: the SHA-256 of the test CA's SubjectPublicKeyInfo, computed
#     here with openssl from $TESTBED_CA and compared with what DNS serves;
#   - asks every "#> ZONE KEY | EXPECTED | WHY" case with
#     `postmap -q KEY socketmap:inet:127.0.0.1:18465:ZONE`, twice (the second
#     time from mxtlsd's caches); for TEMP, postmap must exit 1 with nothing
#     on stdout, "socketmap server temporary error: <mxtlsd's reason>" and
#     "query error" on stderr, and the reason must name the failed lookup;
#   - asks every "#? ZONE KEY | PATH=VALUE; ... | WHY" case through the
#     explain map (mxtls-explain, key "ZONE KEY") and checks those facts
#     (PATH: dotted keys, list indexes, or [NAME] for the element of a list
#     whose "name" is NAME: mx.hosts[mx1.d.test].tlsa_name; the order of
#     the MX hosts is the DNS answer's, not the preference);
#   - checks the DANE facts cache: a second query within the DNS TTL is
#     answered from the facts gathered by the first (facts_age grows), and
#     facts older than their TTL (short.test, 5 s) are gathered again;
#   - stops mxtlsd with SIGTERM: it must exit 0 and its stderr must hold no
#     AddressSanitizer/LeakSanitizer/UBSan report (meaningful when MXTLSD is
#     a -Db_sanitize build; run with ASAN_OPTIONS=detect_leaks=1).
#
# The timeout cases (hole.test: nothing answers) are asked in zone "fast"
# (timeout: 1) first, then in "postfix" (4 s); the time each took is printed
# as a comment, never asserted.
#
# usage: dane.sh MXTLSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: dane.sh MXTLSD}
export TESTBED_SLOT=${TESTBED_SLOT:-5}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/mxtlsd_lib.sh"
scn=$here/scenarios/dane.scn
MX_PORT=${DANE_PORT:-$((18415 + 10 * TESTBED_SLOT))} # 18465 in slot 5

if [ ! -x "$MXTLSD" ]; then
    echo "not ok - mxtlsd binary $MXTLSD is not built"
    exit 1
fi

mx_setup "$scn"
cfg=$MX_TMP/mxtlsd.yml
db=$MX_TMP/cache.db

# dane_config FILE PORT DB: the testbed's resolver and CA; zones nodane
# (dane: false) and fast (timeout: 1 s)
dane_config() {
    cat >"$1" <<EOF
host: 127.0.0.1
port: $2
shutdown_timeout: 2
explain_on_policy_port: true # the explain map name on the policy port (issue 18: off by default)
cache:
  type: sqlite
  options:
    filename: $3
resolver:
  unbound_config: $TESTBED_UNBOUND_CONF
https:
  ca_file: $TESTBED_CA
default_zone:
  strict_testing: false
  timeout: 4
zones:
  nodane:
    dane: false
  fast:
    timeout: 1
EOF
}

dane_config "$cfg" "$MX_PORT" "$db"
mx_start mxtlsd "$cfg"
MXTLSD_PID=$MX_LAST_PID

# ---------------------------------------------------------------- 2 1 1 = the test CA

ca_digest=$(openssl x509 -in "$TESTBED_CA" -noout -pubkey |
    openssl pkey -pubin -outform DER | sha256sum | awk '{ print $1 }')
for owner in _25._tcp.mx1.all211.dane.test _25._tcp.mx2.all211.dane.test; do
    served=$(qdig +short TLSA "$owner" | tr -d ' ' | tr 'A-F' 'a-f' | grep '^211' || true)
    check "$owner 2 1 1 auto is SHA-256(SPKI of \$TESTBED_CA) (RFC 7672 §3.1.1 DANE-TA, computed with openssl)" \
        "$served" "211$ca_digest"
done

# ---------------------------------------------------------------- explain

# explain ZONE KEY: mxtlsd's explanation (the JSON after "OK "), or an
# ERROR line
explain() {
    local out rc=0
    out=$(postmap -c "$MX_PFDIR" -q "$1 $2" \
        "socketmap:inet:127.0.0.1:$MX_PORT:mxtls-explain" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ] && [[ $out == '{'* ]]; then
        printf '%s\n' "$out"
    else
        echo "ERROR rc=$rc: $out"
    fi
}

# ecases SCN: the "#? ZONE KEY | SPEC | WHY" lines, tab-separated
ecases() {
    awk '/^#\? / {
        sub(/^#\? /, "")
        n = split($0, f, / \| /)
        split(f[1], zk, " ")
        printf "%s\t%s\t%s\t%s\n", zk[1], zk[2], f[2], f[3]
    }' "$1"
}

# ---------------------------------------------------------------- TEMP detail

# temp_reason ZONE KEY: the reason postmap reports for a TEMP reply (the text
# after "socketmap server temporary error: "), or an ERROR line
temp_reason() {
    local err=$MX_TMP/tq.err out rc=0
    out=$(postmap -c "$MX_PFDIR" -q "$2" "socketmap:inet:127.0.0.1:$MX_PORT:$1" 2>"$err") || rc=$?
    if [ "$rc" -eq 1 ] && [ -z "$out" ] && grep -q "fatal: table socketmap:.*query error" "$err"; then
        sed -n 's/.*socketmap server temporary error: //p' "$err" | head -n 1
    else
        echo "ERROR rc=$rc: $out $(tr '\n' ' ' <"$err")"
    fi
}

# the lookup a TEMP reply must name, from the rule of the case's WHY text
temp_want() {
    case $1 in
    *"TLSA bogus"*) echo 'TLSA lookup for _25\._tcp\..*bogus' ;;
    *"address lookup bogus"* | *"address lookup: bogus"*) echo 'address lookup for .*bogus' ;;
    *"MX bogus"*) echo 'MX lookup for .*bogus' ;;
    *"MX SERVFAIL"* | *"MX timeout"*) echo 'MX lookup for .*(failed|SERVFAIL|timeout)' ;;
    *) echo '.' ;;
    esac
}

# ---------------------------------------------------------------- the cases

n_cases=0
n_temp=0
for pass in fresh cached; do
    while IFS=$'\t' read -r zone key want why; do
        t0=$(date +%s.%N)
        got=$(q "$zone" "$key")
        t1=$(date +%s.%N)
        expect_reply "$pass: $zone $key -> $want  [$why]" "$got" "$want"
        n_cases=$((n_cases + 1))
        case $key in *hole.test*)
            echo "# $pass: $zone $key took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s (zone timeout: $([ "$zone" = fast ] && echo 1 || echo 4) s)"
            ;;
        esac
        if [ "$want" = TEMP ] && [ "$pass" = fresh ]; then
            reason=$(temp_reason "$zone" "$key")
            has "$zone $key: postmap's temporary-error text is mxtlsd's reason" \
                "$reason" "$(temp_want "$why")"
            n_temp=$((n_temp + 1))
        fi
    done < <(scn_cases "$scn")
done
if [ "$n_cases" -ge 80 ] && [ "$n_temp" -ge 7 ]; then
    ok "$n_cases answer checks ($n_temp TEMP cases) read from dane.scn"
else
    not_ok "dane.scn holds the cases (read $n_cases, $n_temp TEMP)"
fi

n_expl=0
while IFS=$'\t' read -r zone key spec why; do
    json=$(explain "$zone" "$key")
    bad=$(jcheck "$json" "$spec")
    if [ -z "$bad" ]; then ok "explain $zone $key: $spec  [$why]"; else
        not_ok "explain $zone $key: $spec  [$why]"
        printf '%s\n' "$bad" | sed 's/^/  # /'
        echo "  # explain: $json"
    fi
    n_expl=$((n_expl + 1))
done < <(ecases "$scn")
if [ "$n_expl" -ge 25 ]; then ok "$n_expl explain checks read from dane.scn"; else
    not_ok "dane.scn holds the explain cases (read $n_expl)"
fi

# ---------------------------------------------------------------- facts cache

# jget JSON PATH: one value of the explanation
jget() {
    python3 -c 'import json, sys
node = json.loads(sys.argv[1])
for p in sys.argv[2].split("."):
    node = node[int(p)] if isinstance(node, list) else node[p]
print(node)' "$1" "$2" 2>/dev/null || echo "?"
}

# within the TTL (dane.test: 60 s): the facts of the first query are reused
# (DESIGN "caches what it learned"; dane.h: kept for the smallest TTL)
j1=$(explain postfix all311.dane.test)
a1=$(jget "$j1" mx.facts_age)
sleep 2
got=$(q postfix all311.dane.test)
check "facts cache: all311.dane.test again within the TTL -> dane-only" "$got" dane-only
j2=$(explain postfix all311.dane.test)
a2=$(jget "$j2" mx.facts_age)
if [[ $a1 =~ ^[0-9]+$ ]] && [[ $a2 =~ ^[0-9]+$ ]] && [ "$a2" -ge $((a1 + 1)) ]; then
    ok "facts cache: the second query used the facts gathered earlier (facts_age $a1 -> $a2 after 2 s; no new DNS lookups)"
else
    not_ok "facts cache: the second query used the facts gathered earlier (facts_age $a1 -> $a2 after 2 s)"
fi

# fresh.test (TTL 5 s): asked, reused 2 s later, gathered again after the TTL;
# d.fresh.test is asked here first, its zone nowhere else (see dane.scn)
got=$(q postfix d.fresh.test)
check "facts cache: d.fresh.test -> dane-only" "$got" dane-only
j1=$(explain postfix d.fresh.test)
a1=$(jget "$j1" mx.facts_age)
sleep 2
j2=$(explain postfix d.fresh.test)
a2=$(jget "$j2" mx.facts_age)
if [[ $a1 =~ ^[0-9]+$ ]] && [[ $a2 =~ ^[0-9]+$ ]] && [ "$a2" -ge $((a1 + 1)) ]; then
    ok "facts cache: d.fresh.test reused within its 5 s TTL (facts_age $a1 -> $a2 after 2 s)"
else
    not_ok "facts cache: d.fresh.test reused within its 5 s TTL (facts_age $a1 -> $a2 after 2 s)"
fi
sleep 5
got=$(q postfix d.fresh.test)
check "facts cache: d.fresh.test after its TTL -> dane-only" "$got" dane-only
j3=$(explain postfix d.fresh.test)
a3=$(jget "$j3" mx.facts_age)
# still cached, facts_age would be at least a2 + 5
if [[ $a3 =~ ^[0-9]+$ ]] && [[ $a2 =~ ^[0-9]+$ ]] && [ "$a3" -lt $((a2 + 5)) ]; then
    ok "facts cache: facts past their DNS TTL are gathered again (facts_age $a2, then $a3 after 5 s)"
else
    not_ok "facts cache: facts past their DNS TTL are gathered again (facts_age $a2, then $a3 after 5 s)"
fi

# ---------------------------------------------------------------- stop

if stop_pid "$MXTLSD_PID"; then rc=0; else rc=$?; fi
check "mxtlsd (pid $MXTLSD_PID) stops on SIGTERM with status 0" "$rc" 0
san=$(grep -hE "ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: .*Sanitizer" \
    "$MX_TMP"/mxtlsd.out.log "$MX_TMP"/mxtlsd.log 2>/dev/null || true)
if [ -z "$san" ]; then ok "no sanitizer report in mxtlsd's output"; else
    not_ok "no sanitizer report in mxtlsd's output"
    printf '%s\n' "$san" | head -n 20 | sed 's/^/  # /'
fi

done_testing

#!/bin/bash
# exim_e2e.sh - end to end with Exim (issue 15): a private Exim 4.96 sender,
# configured with contrib/exim/ as doc/exim.md says and asking mxtlsd for
# each domain's TLS policy over ${readsocket}, refuses every downgrade of
# the hardening guide's table, with the outcomes of the Postfix suite
# (e2e.sh).
#
# Brings up the testbed with scenarios/exim.scn (slot 48 unless TESTBED_SLOT
# says otherwise; 49 is this suite's spare), starts mxtlsd (the path is the
# first argument) on a Unix socket, as doc/exim.md says (Exim's
# ${readsocket} half-closes after its request), and a private Exim instance
# (exim_lib.sh: its own configuration, spool and log under the scratch
# directory; the host's Exim, if any, is never used), then:
#
#   static   every "#= N RCPT | OUTCOME | LOG | WHY" line of the scenario:
#            one message per line, queued (-odq) and then given one delivery
#            attempt (exim -M), which must end as OUTCOME. "delivered": a "=>"
#            line in the mainlog, gone from the spool, and the MX's SMTP peer
#            recorded the file Exim's "queued as" names (over TLS, or in
#            plaintext for "delivered plaintext"). "deferred": a "==" line,
#            still in the spool, recorded by no SMTP peer. LOG: regular
#            expressions separated by " && ", each matching a mainlog line of
#            that attempt.
#   8        cache.test: mxtlsd fetched its enforce policy (id v1); then the
#            policy host answers 404 and the TXT id changes (v2): mxtlsd's
#            refresh fails and the cached policy still applies: deferred,
#            the forger gets nothing.
#   7        rot.test: delivered (static), then the MX's key and certificate
#            are rotated without updating the TLSA (ctl rotate --no-dns): a
#            new message is deferred (DANE: the certificate differs); after
#            the new TLSA record is published (ctl reload) the next attempt
#            delivers it, verified by DANE.
#   11       mxtlsd stopped: a message to good.sts.test (MTA-STS enforce) is
#            deferred by the mxtls_policy router ("TEMP mxtlsd did not
#            answer"), not delivered with opportunistic TLS; after mxtlsd is
#            started again the next attempt delivers it, verified.
#   end      the deferred messages are still in the spool, every attempt for
#            them was deferred, no SMTP peer ever received them, and no Exim
#            process of the instance is left; mxtlsd logged no "malformed
#            socketmap request" (the plain request, no "0:," workaround) and
#            cancelled no lookup (every half-closed ${readsocket} answered).
#
# No time is asserted and there is no fixed sleep: each attempt is a
# foreground `exim -M`. The outcomes are printed as a table (# lines).
#
# usage: exim_e2e.sh MXTLSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: exim_e2e.sh MXTLSD}
export TESTBED_SLOT=${TESTBED_SLOT:-48}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/../integration/mxtlsd_lib.sh"
# shellcheck source=tests/e2e/exim_lib.sh
. "$here/exim_lib.sh"
scn=$here/scenarios/exim.scn
ZONE=exim

if [ ! -x "$MXTLSD" ]; then
    echo "not ok - mxtlsd binary $MXTLSD is not built"
    exit 1
fi
if ! ex_find; then
    echo "not ok - Exim is installed: scripts/deps test extracts Debian's exim4-daemon-heavy" \
        "to /opt/mxtls-test/exim4 (or set EXIM=/path/to/exim4)"
    exit 1
fi
for tool in jq postmap timeout; do
    command -v "$tool" >/dev/null || {
        echo "not ok - '$tool' is installed (make deps)"
        exit 1
    }
done

# exim_teardown: the instance's log on failure, a check that no Exim process
# is left, then mxtlsd_lib's tear-down (mxtlsd, scratch directory, testbed)
exim_teardown() {
    local rc=$?
    trap - EXIT
    if { [ "$rc" -ne 0 ] || [ "$TB_FAILS" -gt 0 ]; } && [ -n "$EX_LOG" ] && [ -s "$EX_LOG" ]; then
        echo "---- $EX_LOG" >&2
        tail -n 60 "$EX_LOG" >&2
        [ -s "$EX_DIR/log/paniclog" ] && { echo "---- paniclog" >&2; tail -n 20 "$EX_DIR/log/paniclog" >&2; }
    fi
    set +e
    (exit "$rc")
    mx_teardown
}

mx_setup "$scn"
trap exim_teardown EXIT
# Exim's smtp transport runs as Debian-exim (exim_lib.sh), which must pass
# through MX_TMP (mktemp: 0700) to its spool
chmod 711 "$MX_TMP"

MX_PORT=$(free_port)
MX_SOCK=$MX_TMP/policy.sock
cfg=$MX_TMP/mxtlsd.yml
# cache_grace 1 s: a cached policy older than that re-checks the TXT id. The
# policy socket is a Unix socket (path:, MX_PORT unused), mode 0666 as in
# doc/exim.md
mx_config "$cfg" "$MX_PORT" "$MX_TMP/cache.db" "cache_grace: 1" "path: $MX_SOCK" "mode: 0666"
ex_mx_start mxtlsd "$cfg" "$MX_SOCK"
daemon_pid=$MX_LAST_PID

# recipients whose local part is "strict" are asked about in mxtlsd's zone
# "strict" (strict_testing: true); everything else in zone "exim" (the
# default_zone settings)
ex_init "$MX_TMP/exim" "$MX_SOCK" "\${if eq{\$local_part}{strict}{strict}{$ZONE}}" ||
    exit 1

# ---------------------------------------------------------------- helpers

# explain ZONE KEY: mxtlsd's explanation (JSON), or "{}" when it has none
explain() {
    postmap -c "$MX_PFDIR" -q "$1 $2" "socketmap:unix:$MX_SOCK:mxtls-explain" 2>/dev/null ||
        echo '{}'
}

# received RCPT: the SMTP peers' records of messages for RCPT (JSON lines)
received() {
    [ -s "$TESTBED_SMTP_LOG" ] || return 0
    jq -c --arg r "$1" 'select(any(.rcpt[]; . == $r))' "$TESTBED_SMTP_LOG"
}

# log_has WHAT TEXT PATTERNS: every " && "-separated regex matches a line
log_has() {
    local what=$1 text=$2 rest=$3 p
    while [ -n "$rest" ]; do
        p=${rest%% && *}
        [ "$p" = "$rest" ] && rest= || rest=${rest#* && }
        has "$what: log: $p" "$text" "$p"
    done
}

TABLE=()
# note N RCPT OUTCOME LINE: one row of the summary table
note() { TABLE+=("$(printf '%-3s %-26s %-20s %s' "$1" "$2" "$3" "$4")"); }

# attempt ID RCPT: one delivery attempt now; prints its number
attempt() {
    ex_deliver "$1"
    _ex_status_lines "$1" "$2" | wc -l
}

# expect_delivered N RCPT ID ATTEMPT TLS LOG WHY: attempt ATTEMPT of ID
# delivered (=>), the message left the spool, and the SMTP peer recorded
# the file named in the "queued as" reply, over TLS iff TLS is true
expect_delivered() {
    local n=$1 rcpt=$2 id=$3 att=$4 tls=$5 log=$6 why=$7 sess line file rec
    check "$n $rcpt: attempt $att delivered (=>)  [$why]" "$(ex_status "$id" "$rcpt" "$att")" delivered
    sess=$(ex_session "$id" "$rcpt" "$att")
    log_has "$n $rcpt" "$sess" "$log"
    if ex_queued "$id"; then not_ok "$n $rcpt: $id left the spool"; else ok "$n $rcpt: $id left the spool"; fi
    line=$(grep -E " => $rcpt " <<<"$sess" | tail -n 1)
    file=$(sed -nE 's/.*queued as ([^ "]+).*/\1/p' <<<"$line")
    rec=$(received "$rcpt" | jq -c --arg f "$file" 'select((.file | split("/") | last) == $f)')
    if [ -n "$file" ] && [ -n "$rec" ]; then
        ok "$n $rcpt: the SMTP peer recorded $file"
        check "$n $rcpt: received over TLS: $tls" "$(jq -r .tls <<<"$rec")" "$tls"
    else
        not_ok "$n $rcpt: the SMTP peer recorded the file Exim's reply names ('$file')"
        received "$rcpt" | sed 's/^/  # /'
    fi
    note "$n" "$rcpt" "$([ "$tls" = true ] && echo delivered || echo 'delivered plaintext')" \
        "$(sed -E 's/^[0-9-]+ [0-9:]+ [^ ]+ //; s/ C="[^"]*"//; s/ DN="[^"]*"//' <<<"$line")"
}

# expect_deferred N RCPT ID ATTEMPT LOG WHY: attempt ATTEMPT of ID deferred
# (==), still in the spool, never received by any SMTP peer
expect_deferred() {
    local n=$1 rcpt=$2 id=$3 att=$4 log=$5 why=$6 sess
    check "$n $rcpt: attempt $att deferred (==)  [$why]" "$(ex_status "$id" "$rcpt" "$att")" deferred
    sess=$(ex_session "$id" "$rcpt" "$att")
    log_has "$n $rcpt" "$sess" "$log"
    if ex_queued "$id"; then ok "$n $rcpt: $id stays in the spool"; else not_ok "$n $rcpt: $id stays in the spool"; fi
    check "$n $rcpt: no SMTP peer received it" "$(received "$rcpt")" ""
    note "$n" "$rcpt" deferred \
        "$(grep -E " == $rcpt " <<<"$sess" | tail -n 1 | sed -E 's/^[0-9-]+ [0-9:]+ [^ ]+ //')"
}

# submit RCPT TAG: queue one message; ID is its Exim ID (empty, and a failed
# check, when it was not accepted)
ID=
submit() {
    ID=
    if ex_send "$1" "$2"; then ID=$EX_ID; else
        not_ok "exim -odq accepts the message for $1"
    fi
}

# ---------------------------------------------------------------- 8: prime the cache

got=$(explain "$ZONE" cache.test)
check "8 cache.test: mxtlsd fetched the enforce policy (explain: state, id, mode)" \
    "$(jq -r '[.mta_sts.state, .mta_sts.policy.id, .mta_sts.policy.mode] | join(" ")' <<<"$got")" \
    "policy v1 enforce"

# ---------------------------------------------------------------- static cases

cases=()
i=0
while IFS=$'\t' read -r n rcpt outcome log why; do
    i=$((i + 1))
    submit "$rcpt" "exim$i"
    [ -n "$ID" ] && cases+=("$n"$'\t'"$rcpt"$'\t'"$outcome"$'\t'"$log"$'\t'"$why"$'\t'"$ID")
done < <(awk '/^#= / {
        sub(/^#= /, "")
        n = split($0, f, / \| /)
        split(f[1], nr, " ")
        printf "%s\t%s\t%s\t%s\t%s\n", nr[1], nr[2], f[2], f[3], f[4]
    }' "$scn")
if [ "$i" -ge 14 ]; then ok "$i static cases read from exim.scn, ${#cases[@]} queued"; else
    not_ok "exim.scn holds the static cases (read $i)"
fi

deferred_ids=()
for c in "${cases[@]}"; do
    IFS=$'\t' read -r n rcpt outcome log why id <<<"$c"
    att=$(attempt "$id" "$rcpt")
    case $outcome in
    delivered) expect_delivered "$n" "$rcpt" "$id" 1 true "$log" "$why" ;;
    "delivered plaintext") expect_delivered "$n" "$rcpt" "$id" 1 false "$log" "$why" ;;
    deferred)
        expect_deferred "$n" "$rcpt" "$id" 1 "$log" "$why"
        deferred_ids+=("$id $rcpt")
        ;;
    *) not_ok "exim.scn: unknown outcome '$outcome' for $rcpt" ;;
    esac
    [ "$att" = 1 ] || not_ok "$rcpt: one attempt logged after one exim -M (got $att)"
done

# ---------------------------------------------------------------- 8: policy host 404, cached policy

fail_policy cache.test
set_txt _mta-sts.cache.test "v=STSv1; id=v2"
dns_reload
_refresh_failed() { [ "$(explain "$ZONE" cache.test | jq -r .mta_sts.state)" = failed ]; }
for ((k = 0; k < 100; k++)); do
    _refresh_failed && break
    sleep 0.2
done
got=$(explain "$ZONE" cache.test)
check "8 cache.test: new id, policy host 404: the refresh failed, the cached policy v1 applies (explain)" \
    "$(jq -r '[.mta_sts.state, .mta_sts.policy.id, .reply] | join(" | ")' <<<"$got")" \
    "failed | v1 | OK secure match=mx.cache.test servername=hostname"
submit user@cache.test exim-cache
id=$ID
if [ -n "$id" ]; then
    attempt "$id" user@cache.test >/dev/null
    expect_deferred 8 user@cache.test "$id" 1 \
        "== user@cache\.test R=mxtls_dnslookup T=mxtls_smtp defer \(-37\) H=mx\.cache\.test .*: TLS session: \(certificate verification failed\): certificate invalid" \
        "RFC 8461 §3.3: the refresh failed, the valid cached enforce policy still applies"
    deferred_ids+=("$id user@cache.test")
fi

# ---------------------------------------------------------------- 7: rotation without TLSA update

at_rot() { [ -s "$TESTBED_SMTP_LOG" ] && jq -c 'select(.host == "mx.rot.test")' "$TESTBED_SMTP_LOG" | wc -l || echo 0; }
if "$TB/ctl" "$TESTBED_DIR" rotate mx.rot.test --no-dns >"$MX_TMP/ctl.log" 2>&1; then
    ok "7 mx.rot.test: key and certificate rotated, TLSA left alone (ctl rotate --no-dns)"
else
    not_ok "7 mx.rot.test: ctl rotate --no-dns"
    sed 's/^/  # /' "$MX_TMP/ctl.log"
fi
before=$(at_rot)
submit rotated@rot.test exim-rot
id=$ID
if [ -n "$id" ]; then
    attempt "$id" rotated@rot.test >/dev/null
    expect_deferred 7 rotated@rot.test "$id" 1 \
        "DANE attempt failed; TLS connection to mx\.rot\.test .*Verification failed\. The certificate differs && == rotated@rot\.test .* defer \(-37\)" \
        "hardening guide: certificate rotated without the TLSA update: DANE senders refuse"
    dns_reload # publishes the TLSA record of the new key
    att=$(attempt "$id" rotated@rot.test)
    expect_delivered 7 rotated@rot.test "$id" "$att" true \
        "=> rotated@rot\.test R=mxtls_dnslookup T=mxtls_smtp H=mx\.rot\.test .* X=TLS1\.[23]:[^ ]+ CV=dane" \
        "RFC 7672 §3.1.1: the new TLSA record matches the new key"
    check "7 rotated@rot.test: attempts" "$(ex_statuses "$id" rotated@rot.test)" "deferred delivered"
    check "7 mx.rot.test: the SMTP peer has one more message than before the rotation" \
        "$(at_rot)" "$((before + 1))"
fi

# ---------------------------------------------------------------- 11: the policy daemon down

rc=0
stop_pid "$daemon_pid" || rc=$?
check "11 mxtlsd stopped (SIGTERM, status 0)" "$rc" 0
submit user11@good.sts.test exim-down
id=$ID
if [ -n "$id" ]; then
    attempt "$id" user11@good.sts.test >/dev/null
    expect_deferred 11 user11@good.sts.test "$id" 1 \
        "== user11@good\.sts\.test R=mxtls_policy defer \(-1\): mxtls: no TLS policy for good\.sts\.test: TEMP mxtlsd did not answer" \
        "mxtlsd down: the policy lookup fails, Exim defers rather than downgrade"
    ex_mx_start mxtlsd-restarted "$cfg" "$MX_SOCK"
    att=$(attempt "$id" user11@good.sts.test)
    expect_delivered 11 user11@good.sts.test "$id" "$att" true \
        "=> user11@good\.sts\.test R=mxtls_dnslookup T=mxtls_smtp H=mx\.good\.sts\.test .* X=TLS1\.[23]:[^ ]+ CV=yes" \
        "mxtlsd back: the enforce policy applies again"
    check "11 user11@good.sts.test: attempts" "$(ex_statuses "$id" user11@good.sts.test)" "deferred delivered"
fi

# ---------------------------------------------------------------- end: nothing leaked

for e in "${deferred_ids[@]}"; do
    read -r id rcpt <<<"$e"
    if ex_queued "$id"; then ok "end: $rcpt ($id) is still in the spool"; else
        not_ok "end: $rcpt ($id) is still in the spool"
    fi
    check "end: $rcpt: every attempt was deferred" "$(ex_statuses "$id" "$rcpt" | tr ' ' '\n' | sort -u)" deferred
    check "end: $rcpt: no SMTP peer ever received it" "$(received "$rcpt")" ""
done
check "end: no Exim process of the instance is left" "$(ex_procs | paste -sd' ' -)" ""
check "end: Exim's paniclog is empty" "$(cat "$EX_DIR/log/paniclog" 2>/dev/null)" ""
# Exim's plain request (no trailing "0:,"): nothing malformed in mxtlsd's log
# (before, one warning per lookup), and every half-closed request answered
mxlogs=("$MX_TMP/mxtlsd.log" "$MX_TMP/mxtlsd-restarted.log")
nhalf=$(cat "${mxlogs[@]}" 2>/dev/null | grep -c 'the client half-closed' || true)
npend=$(cat "${mxlogs[@]}" 2>/dev/null | grep -c 'the client half-closed: answering the pending' || true)
expect "end: mxtlsd saw Exim half-close after its requests ($nhalf connections, $npend with the lookup still pending)" \
    test "$nhalf" -gt 0 -a "$npend" -gt 0
check "end: mxtlsd's log has no 'malformed socketmap request' line" \
    "$(cat "${mxlogs[@]}" 2>/dev/null | grep -c 'malformed socketmap request' || true)" 0
check "end: mxtlsd cancelled no lookup (each half-closed request was answered)" \
    "$(cat "${mxlogs[@]}" 2>/dev/null | grep -c 'lookup cancelled' || true)" 0

echo "# scenario / recipient / outcome / the Exim log line that shows why"
for r in "${TABLE[@]}"; do echo "# $r"; done
done_testing

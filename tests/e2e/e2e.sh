#!/bin/bash
# e2e.sh - end to end: a real Postfix sender, configured as the hardening
# guide says and asking mxtlsd for its TLS policy, refuses every downgrade in
# the guide's "Expected Behaviour After Hardening" table (issue 6).
#
# Brings up the testbed with scenarios/e2e.scn (slot 7 unless TESTBED_SLOT
# says otherwise), starts mxtlsd (the path is the first argument) on
# 127.0.0.1:18487 and a private Postfix instance (postfix_lib.sh) whose
# smtp_tls_policy_maps is socketmap:inet:127.0.0.1:18487:postfix, then:
#
#   static   every "#= N RCPT | OUTCOME | LOG | WHY" line of the scenario:
#            one message per line, submitted with sendmail; its first delivery
#            attempt must end as OUTCOME. "delivered": status=sent in the
#            maillog, gone from `postqueue -j`, recorded by the MX's SMTP peer
#            (over TLS, or in plaintext for "delivered plaintext").
#            "deferred": status=deferred, still in `postqueue -j` with a delay
#            reason, recorded by no SMTP peer. LOG: regular expressions
#            separated by " && ", each matching a line of that attempt's smtp
#            session in the maillog (certmatch logging: "Matched DANE ...").
#   8        cache.test: mxtlsd fetched its enforce policy (id v1); then the
#            policy host answers 404 and the TXT id changes (v2): mxtlsd's
#            refresh fails (explain: failed, sts-policy-fetch-error) and the
#            cached policy still applies: the forger gets nothing.
#   7        rot.test: delivered (static), then the MX's key and certificate
#            are rotated without updating the TLSA (ctl rotate --no-dns): a
#            new message is deferred with "no matching DANE TLSA records";
#            after the new TLSA record is published (ctl reload) it is
#            delivered on a later attempt, verified with the new 3 1 1 digest;
#            every attempt before the publication was deferred.
#   11       mxtlsd stopped: a message to good.sts.test (MTA-STS enforce) is
#            deferred ("client TLS configuration problem": the policy lookup
#            failed), not delivered with opportunistic TLS; after mxtlsd is
#            started again it is delivered on a later attempt, verified.
#   end      the deferred messages are still queued, every attempt made for
#            them was deferred, and no SMTP peer ever received them; Postfix
#            stops with no process of the instance left.
#
# Waits are polls with a deadline, never fixed sleeps; no time is asserted.
# The outcomes are printed as a table (# lines) at the end.
#
# usage: e2e.sh MXTLSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: e2e.sh MXTLSD}
export TESTBED_SLOT=${TESTBED_SLOT:-7}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/../integration/mxtlsd_lib.sh"
# shellcheck source=tests/e2e/postfix_lib.sh
. "$here/postfix_lib.sh"
PF_TB=$TB
scn=$here/scenarios/e2e.scn
MX_PORT=${E2E_PORT:-$((18417 + 10 * TESTBED_SLOT))} # 18487 in slot 7
# every wait ends by then (seconds of this script; meson's timeout is 300):
# a broken daemon fails the checks quickly and leaves time for the tear-down
PF_END=$((SECONDS + 180))

if [ ! -x "$MXTLSD" ]; then
    echo "not ok - mxtlsd binary $MXTLSD is not built"
    exit 1
fi
for tool in postfix postconf postqueue sendmail postmap jq; do
    command -v "$tool" >/dev/null || {
        echo "not ok - '$tool' is installed (Debian: postfix, jq; make deps)"
        exit 1
    }
done

# e2e_teardown: Postfix first (before mxtlsd and the testbed go down), its
# log on failure, then mxtlsd_lib's tear-down
e2e_teardown() {
    local rc=$?
    trap - EXIT
    pf_stop >/dev/null 2>&1 || true
    if { [ "$rc" -ne 0 ] || [ "$TB_FAILS" -gt 0 ]; } && [ -n "$PF_LOG" ] && [ -s "$PF_LOG" ]; then
        echo "---- $PF_LOG" >&2
        tail -n 60 "$PF_LOG" >&2
    fi
    set +e
    (exit "$rc")
    mx_teardown
}

mx_setup "$scn"
trap e2e_teardown EXIT
# the instance lives in MX_TMP/pf: its master opens data_directory/master.lock
# as the postfix user, which must be able to pass through MX_TMP (mktemp: 0700)
chmod 711 "$MX_TMP"

cfg=$MX_TMP/mxtlsd.yml
# cache_grace 1 s: a cached policy older than that re-checks the TXT id
mx_config "$cfg" "$MX_PORT" "$MX_TMP/cache.db" "cache_grace: 1"
mx_start mxtlsd "$cfg"
daemon_pid=$MX_LAST_PID

# recipients whose local part is "strict" go through the smtp-strict
# transport, whose policy map is mxtlsd's zone "strict" (strict_testing)
strict_rcpts=$(sed -nE 's/^#= [0-9]+ (strict@[^ ]+) \|.*/\1/p' "$scn")
PF_TRANSPORT="inline:{ $(for r in $strict_rcpts; do printf '%s=smtp-strict: ' "$r"; done)}"
pf_init "$MX_TMP/pf" "socketmap:inet:127.0.0.1:$MX_PORT:postfix" \
    "socketmap:inet:127.0.0.1:$MX_PORT:strict" || exit 1
pf_start || exit 1

# ---------------------------------------------------------------- helpers

# explain ZONE KEY: mxtlsd's explanation (JSON), or "{}" when it has none
explain() {
    postmap -c "$MX_PFDIR" -q "$1 $2" "socketmap:inet:127.0.0.1:$MX_PORT:mxtls-explain" 2>/dev/null ||
        echo '{}'
}

# session QID RCPT N: the maillog lines of the smtp process that made the
# Nth delivery attempt of QID to RCPT, from the end of its previous
# delivery to that attempt's status line
session() {
    awk -v qid="$1" -v rcpt="$2" -v n="$3" '
        match($0, /postfix\/[a-z\/-]+\[[0-9]+\]: /) {
            tag = substr($0, RSTART, RLENGTH)
            buf[tag] = buf[tag] $0 "\n"
            if (index($0, ": " qid ": to=<" rcpt ">,") && $0 ~ / status=[a-z]+/ && ++k == n) {
                printf "%s", buf[tag]
                exit
            }
            if ($0 ~ /: to=<[^>]*>,.* status=[a-z]+/)
                buf[tag] = ""
        }' "$PF_LOG"
}

# statuses QID RCPT: the status of every delivery attempt logged so far
statuses() {
    grep -E ": $1: to=<$2>,.* status=[a-z]+" "$PF_LOG" | sed -nE 's/.* status=([a-z]+).*/\1/p' |
        paste -sd' ' -
}

# received RCPT: the SMTP peers' records of messages for RCPT (JSON lines)
received() {
    [ -s "$TESTBED_SMTP_LOG" ] || return 0
    jq -c --arg r "$1" 'select(any(.rcpt[]; . == $r))' "$TESTBED_SMTP_LOG"
}

# attempt_field QID RCPT N SED-RE: a field of the Nth attempt's status line:
# relay=HOST[...] or the peer's "queued as FILE"
attempt_field() {
    grep -E ": $1: to=<$2>,.* status=[a-z]+" "$PF_LOG" | sed -n "${3}p" | sed -nE "s/$4/\\1/p"
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

# queued_deferred QID: in the deferred queue with a delay reason; prints the
# reason. Polls while the message is in the active queue (an attempt is under
# way); fails at once when it is not queued at all.
QUEUE_GONE=
_queued_deferred() {
    local e
    if ! e=$(pf_queued "$1"); then
        QUEUE_GONE=yes
        return 0
    fi
    jq -c 'select(.queue_name == "deferred") | .recipients[0].delay_reason | select(length > 0)' <<<"$e" | grep .
}
queued_deferred() {
    QUEUE_GONE=
    pf_wait "$1 in the deferred queue" _queued_deferred "$1" && [ -z "$QUEUE_GONE" ]
}

_gone() { ! pf_queued "$1" >/dev/null; }

TABLE=()
# note N RCPT OUTCOME LINE: one row of the summary table
note() { TABLE+=("$(printf '%-3s %-26s %-20s %s' "$1" "$2" "$3" "$4")"); }

# expect_delivered N RCPT QID ATTEMPT TLS LOG WHY: the ATTEMPTth attempt
# delivered RCPT; TLS is true or false (what the SMTP peer recorded)
expect_delivered() {
    local n=$1 rcpt=$2 qid=$3 att=$4 tls=$5 log=$6 why=$7 st sess host file rec
    st=$(pf_status "$qid" "$rcpt" "$att")
    check "$n $rcpt: attempt $att delivered (status=sent)  [$why]" "$st" sent
    sess=$(session "$qid" "$rcpt" "$att")
    log_has "$n $rcpt" "$sess" "$log"
    if pf_wait "$qid to leave the queue" _gone "$qid"; then ok "$n $rcpt: $qid left the queue (postqueue -j)"; else
        not_ok "$n $rcpt: $qid left the queue (postqueue -j)"
    fi
    host=$(attempt_field "$qid" "$rcpt" "$att" '.* relay=([^[,]+)\[.*')
    file=$(attempt_field "$qid" "$rcpt" "$att" '.* status=sent \(250 .* queued as ([^ )]+)\)$')
    rec=$(received "$rcpt" | jq -c --arg f "$file" 'select(.file | endswith("/" + $f)) | [.host, .tls]')
    check "$n $rcpt: the SMTP peer recorded it ($file): host $host, tls=$tls" "$rec" "[\"$host\",$tls]"
    note "$n" "$rcpt" "delivered$([ "$tls" = true ] || echo ' (plaintext)')" \
        "$(printf '%s\n' "$sess" | grep -E "${log%% && *}" | head -n 1 | sed -E 's/^.*postfix\/[a-z\/-]+\[[0-9]+\]: //')"
}

# expect_deferred N RCPT QID ATTEMPT LOG WHY: the ATTEMPTth attempt deferred
expect_deferred() {
    local n=$1 rcpt=$2 qid=$3 att=$4 log=$5 why=$6 st sess entry
    st=$(pf_status "$qid" "$rcpt" "$att")
    check "$n $rcpt: attempt $att deferred (status=deferred)  [$why]" "$st" deferred
    sess=$(session "$qid" "$rcpt" "$att")
    log_has "$n $rcpt" "$sess" "$log"
    if entry=$(queued_deferred "$qid"); then
        ok "$n $rcpt: $qid stays queued, delay reason $entry"
    else
        not_ok "$n $rcpt: $qid stays in the deferred queue with a delay reason"
        postqueue -c "$PF_DIR" -j | sed 's/^/  # /'
    fi
    check "$n $rcpt: no SMTP peer received it" "$(received "$rcpt")" ""
    note "$n" "$rcpt" deferred \
        "$(printf '%s\n' "$sess" | grep -E "${log%% && *}" | head -n 1 | sed -E 's/^.*postfix\/[a-z\/-]+\[[0-9]+\]: //')"
}

# retried_sent QID RCPT WHAT: retry QID now (postqueue -i) and wait for its
# delivery; prints the number of the first attempt that delivered, and fails
# unless that attempt came after every attempt logged before the retry
retried_sent() {
    local qid=$1 rcpt=$2 before att
    before=$(statuses "$qid" "$rcpt" | wc -w)
    postqueue -c "$PF_DIR" -i "$qid" || true
    _sent() { statuses "$qid" "$rcpt" | grep -qw sent; }
    pf_wait "$qid delivered after $3" _sent || true
    att=$(statuses "$qid" "$rcpt" | tr ' ' '\n' | grep -nx sent | head -n 1 | cut -d: -f1)
    [ -n "$att" ] && [ "$att" -gt "$before" ] && echo "$att"
}

# submit RCPT TAG: sendmail; sets QID to the queue ID (empty, and a failed
# check, when the message was not accepted)
QID=
submit() {
    QID=
    if ! pf_send "$1" "$2"; then
        not_ok "sendmail -C $PF_DIR accepts the message for $1"
        return 0
    fi
    if ! QID=$(pf_qid "$2"); then
        QID=
        not_ok "$1: cleanup logged the queue ID of <$2@sender.example>"
    fi
}

# ---------------------------------------------------------------- 8: prime the cache

# mxtlsd fetches cache.test's policy now, while the policy host serves it
got=$(explain postfix cache.test)
check "8 cache.test: mxtlsd fetched the enforce policy (explain: state, id, mode)" \
    "$(jq -r '[.mta_sts.state, .mta_sts.policy.id, .mta_sts.policy.mode] | join(" ")' <<<"$got")" \
    "policy v1 enforce"

# 8 and 9: what mxtlsd knows about the policy-host-404 and testing domains
got=$(explain postfix nopol.sts.test)
check "8 nopol.sts.test: the policy fetch failed, nothing cached: no policy (explain)" \
    "$(jq -r '[.mta_sts.state, .mta_sts.failure, (.mta_sts.policy == null | tostring), .reply] | join(" | ")' <<<"$got")" \
    "failed | sts-policy-fetch-error | true | NOTFOUND "
has "8 nopol.sts.test: the failure is the 404" "$(jq -r .mta_sts.why <<<"$got")" "404"
for z in postfix strict; do
    got=$(explain "$z" testing.sts.test)
    check "9 testing.sts.test in zone $z: policy mode testing (explain)" \
        "$(jq -r '[.mta_sts.state, .mta_sts.policy.mode, (.zone.strict_testing | tostring)] | join(" ")' <<<"$got")" \
        "policy testing $([ "$z" = strict ] && echo true || echo false)"
done

# ---------------------------------------------------------------- static cases

cases=()
i=0
while IFS=$'\t' read -r n rcpt outcome log why; do
    i=$((i + 1))
    submit "$rcpt" "e2e$i"
    [ -n "$QID" ] && cases+=("$n"$'\t'"$rcpt"$'\t'"$outcome"$'\t'"$log"$'\t'"$why"$'\t'"$QID")
done < <(awk '/^#= / {
        sub(/^#= /, "")
        n = split($0, f, / \| /)
        split(f[1], nr, " ")
        printf "%s\t%s\t%s\t%s\t%s\n", nr[1], nr[2], f[2], f[3], f[4]
    }' "$scn")
if [ "$i" -ge 14 ]; then ok "$i static cases read from e2e.scn"; else
    not_ok "e2e.scn holds the static cases (read $i)"
fi

deferred_qids=()
for c in "${cases[@]}"; do
    IFS=$'\t' read -r n rcpt outcome log why qid <<<"$c"
    case $outcome in
    delivered) expect_delivered "$n" "$rcpt" "$qid" 1 true "$log" "$why" ;;
    "delivered plaintext") expect_delivered "$n" "$rcpt" "$qid" 1 false "$log" "$why" ;;
    deferred)
        expect_deferred "$n" "$rcpt" "$qid" 1 "$log" "$why"
        deferred_qids+=("$qid $rcpt")
        ;;
    *) not_ok "e2e.scn: unknown outcome '$outcome' for $rcpt" ;;
    esac
done

# ---------------------------------------------------------------- 8: policy host 404, cached policy

fail_policy cache.test
set_txt _mta-sts.cache.test "v=STSv1; id=v2"
dns_reload
# poll the explain request (each one may start mxtlsd's refresh once the
# cached entry is older than cache_grace) until the refresh has failed
_refresh_failed() { [ "$(explain postfix cache.test | jq -r .mta_sts.state)" = failed ]; }
pf_wait "mxtlsd's refresh of cache.test to fail" _refresh_failed || true
got=$(explain postfix cache.test)
check "8 cache.test: new id, policy host 404: the refresh failed, the cached policy v1 applies (explain)" \
    "$(jq -r '[.mta_sts.state, .mta_sts.failure, .mta_sts.policy.id, (.mta_sts.policy.cached | tostring), .reply] | join(" | ")' <<<"$got")" \
    "failed | sts-policy-fetch-error | v1 | true | OK secure match=mx.cache.test servername=hostname"
has "8 cache.test: the failure is the 404" "$(jq -r .mta_sts.why <<<"$got")" "404"
submit user@cache.test e2e-cache
qid=$QID
if [ -n "$qid" ]; then
    expect_deferred 8 user@cache.test "$qid" 1 \
        "untrusted issuer /CN=mxtls testbed attacker-ca && status=deferred \(Server certificate not verified\)" \
        "RFC 8461 §3.3: the refresh failed, the valid cached enforce policy still applies"
    deferred_qids+=("$qid user@cache.test")
fi

# ---------------------------------------------------------------- 7: rotation without TLSA update

tlsa311() { qdig +short TLSA _25._tcp.mx.rot.test | awk '$1 == 3 && $2 == 1 && $3 == 1 { print toupper($4 $5) }'; }
old=$(tlsa311)
if "$TB/ctl" "$TESTBED_DIR" rotate mx.rot.test --no-dns >"$MX_TMP/ctl.log" 2>&1; then
    ok "7 mx.rot.test: key and certificate rotated, TLSA left alone (ctl rotate --no-dns)"
else
    not_ok "7 mx.rot.test: ctl rotate --no-dns"
    sed 's/^/  # /' "$MX_TMP/ctl.log"
fi
at_rot() { [ -s "$TESTBED_SMTP_LOG" ] && jq -c 'select(.host == "mx.rot.test")' "$TESTBED_SMTP_LOG" | wc -l || echo 0; }
before=$(at_rot)
submit rotated@rot.test e2e-rot
qid=$QID
if [ -n "$qid" ]; then
    expect_deferred 7 rotated@rot.test "$qid" 1 \
        "num=65:no matching DANE TLSA records && status=deferred \(Server certificate not verified\)" \
        "hardening guide: certificate rotated without the TLSA update: DANE senders refuse"
    dns_reload # publishes the TLSA record of the new key
    mark=$(statuses "$qid" rotated@rot.test)
    new=$(tlsa311)
    if [ -n "$new" ] && [ "$new" != "$old" ]; then ok "7 mx.rot.test: the new TLSA 3 1 1 record is published"; else
        not_ok "7 mx.rot.test: the new TLSA 3 1 1 record is published (old $old, now '$new')"
    fi
    # the attempts logged before the publication were all deferred; a later
    # attempt delivers, verified with the new key
    nb=$(wc -w <<<"$mark")
    check "7 rotated@rot.test: every attempt before the TLSA publication was deferred" \
        "$(tr ' ' '\n' <<<"$mark" | sort -u | paste -sd' ' -)" deferred
    if att=$(retried_sent "$qid" rotated@rot.test "the TLSA publication"); then
        ok "7 rotated@rot.test: delivered on attempt $att, after the publication ($nb deferred before it)"
        expect_delivered 7 rotated@rot.test "$qid" "$att" true \
            "Matched DANE EE certificate at depth 0: 3 1 1 $new && Verified TLS connection established to mx\.rot\.test" \
            "RFC 7672 §3.1.1: the new TLSA record matches the new key"
    else
        not_ok "7 rotated@rot.test: delivered after the TLSA publication (attempts: $(statuses "$qid" rotated@rot.test))"
    fi
    check "7 mx.rot.test: the SMTP peer has one more message than before the rotation" \
        "$(at_rot)" "$((before + 1))"
fi

# ---------------------------------------------------------------- 11: the policy daemon down

# The hardening guide's failure mode "mta-sts-daemon crash: Postfix falls
# back to opportunistic TLS for all domains". With mxtlsd down, Postfix's
# policy lookup fails and it defers instead; once mxtlsd is back the queued
# message is delivered, verified.
rc=0
stop_pid "$daemon_pid" || rc=$?
check "11 mxtlsd stopped (SIGTERM, status 0)" "$rc" 0
submit user11@good.sts.test e2e-down
qid=$QID
if [ -n "$qid" ]; then
    expect_deferred 11 user11@good.sts.test "$qid" 1 \
        "relay=none, .*dsn=4\.7\.5, status=deferred \(client TLS configuration problem\)" \
        "mxtlsd down: the policy lookup fails, Postfix defers rather than downgrade"
    mx_start mxtlsd-restarted "$cfg"
    if att=$(retried_sent "$qid" user11@good.sts.test "mxtlsd's restart"); then
        expect_delivered 11 user11@good.sts.test "$qid" "$att" true \
            "matched peername: mx\.good\.sts\.test && Verified TLS connection established to mx\.good\.sts\.test" \
            "mxtlsd back: the enforce policy applies again"
    else
        not_ok "11 user11@good.sts.test: delivered after mxtlsd's restart (attempts: $(statuses "$qid" user11@good.sts.test))"
    fi
fi

# ---------------------------------------------------------------- end: nothing leaked

for e in "${deferred_qids[@]}"; do
    read -r qid rcpt <<<"$e"
    if queued_deferred "$qid" >/dev/null; then ok "end: $rcpt ($qid) is still queued"; else
        not_ok "end: $rcpt ($qid) is still queued"
    fi
    check "end: $rcpt: every attempt was deferred" "$(statuses "$qid" "$rcpt" | tr ' ' '\n' | sort -u)" deferred
    check "end: $rcpt: no SMTP peer ever received it" "$(received "$rcpt")" ""
done
pf_stop || true

echo "# scenario / recipient / outcome / the log line that shows why"
for r in "${TABLE[@]}"; do echo "# $r"; done
done_testing

#!/bin/bash
# tlsrpt_e2e.sh - the TLS-RPT sending side end to end (issue 12): a real
# Postfix 3.7 sender asking mxtlsd for its policy delivers to the attack
# scenarios of scenarios/tlsrpt.scn; `mxtls tlsrpt collect` reads Postfix's
# log and mxtlsd's policy records; `mxtls tlsrpt report` looks up each
# domain's _smtp._tls record and delivers the report to its rua: by mail
# through the same Postfix to the testbed's mailbox (an SMTP peer) and by
# HTTPS POST to an endpoint on the testbed. Checks:
#   - per scenario domain, the result types and success counts of the
#     delivered report (the "#=" lines of the scenario);
#   - every report validates against RFC 8460 §4.4 (tlsrpt_check.py json);
#   - the mail is §5.3 (multipart/report; report-type="tlsrpt", headers,
#     subject, application/tlsrpt+gzip, TLS-Required: No) and its DKIM
#     signature verifies with an independent verifier (dkim_verify.py);
#     the POST is Content-Type application/tlsrpt+gzip with the same report;
#   - a domain without a TLS-RPT record gets nothing; a second `report` run
#     delivers nothing again (once per rua); the report mails' own sessions
#     are not collected (no report loop);
#   - closed loop (issue 13): `mxtls tlsrpt ingest` stores every delivered
#     report and `summary --json` shows each domain's failure types.
#
# usage: tlsrpt_e2e.sh MXTLSD MXTLS
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: tlsrpt_e2e.sh MXTLSD MXTLS}
MXTLS=${2:?usage: tlsrpt_e2e.sh MXTLSD MXTLS}
export TESTBED_SLOT=${TESTBED_SLOT:-44}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/../integration/mxtlsd_lib.sh"
# shellcheck source=tests/e2e/postfix_lib.sh
. "$here/postfix_lib.sh"
PF_TB=$TB
scn=$here/scenarios/tlsrpt.scn
PF_END=$((SECONDS + 150))

for tool in postfix postconf postqueue sendmail postmap jq openssl python3; do
    command -v "$tool" >/dev/null || { echo "not ok - '$tool' is installed"; exit 1; }
done
python3 -c 'import cryptography' 2>/dev/null ||
    { echo "not ok - python3-cryptography is installed"; exit 1; }

teardown() {
    local rc=$?
    trap - EXIT
    pf_stop >/dev/null 2>&1 || true
    if { [ "$rc" -ne 0 ] || [ "$TB_FAILS" -gt 0 ]; } && [ -n "$PF_LOG" ] && [ -s "$PF_LOG" ]; then
        echo "---- $PF_LOG" >&2
        tail -n 40 "$PF_LOG" >&2
    fi
    set +e
    (exit "$rc")
    mx_teardown
}

mx_setup "$scn"
trap teardown EXIT
chmod 711 "$MX_TMP"
T=$MX_TMP

# ---------------------------------------------------------------- the https rua
rua_addr=$(addr rua.reports.test)
mkdir -p "$T/rua"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/rua.key" \
    -subj /CN=rua.reports.test -out "$T/rua.csr" 2>/dev/null
printf 'subjectAltName=DNS:rua.reports.test\n' >"$T/rua.ext"
openssl x509 -req -in "$T/rua.csr" -CA "$TESTBED_DIR/ca/ca.pem" -CAkey "$TESTBED_DIR/ca/ca.key" \
    -CAserial "$T/rua.srl" -CAcreateserial -days 2 -extfile "$T/rua.ext" -out "$T/rua.pem" 2>/dev/null
cat >"$T/rua.py" <<'PY'
import http.server, os, ssl, sys
addr, cert, key, out = sys.argv[1:5]
class H(http.server.BaseHTTPRequestHandler):
    n = 0
    def do_POST(self):
        n = int(self.headers.get('Content-Length', '0'))
        body = self.rfile.read(n)
        H.n += 1
        base = os.path.join(out, '%03d' % H.n)
        open(base + '.gz', 'wb').write(body)
        open(base + '.hdr', 'w').write('%s %s\n' % (self.path, self.headers.get('Content-Type')))
        self.send_response(200)
        self.send_header('Content-Length', '0')
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer((addr, 443), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()
PY
python3 "$T/rua.py" "$rua_addr" "$T/rua.pem" "$T/rua.key" "$T/rua" >"$T/rua.out.log" 2>&1 &
MX_PIDS+=("$!")
for ((i = 0; i < 50; i++)); do
    (exec 3<>"/dev/tcp/$rua_addr/443") 2>/dev/null && break
    sleep 0.1
done
expect "https rua endpoint listens on $rua_addr:443" bash -c "exec 3<>/dev/tcp/$rua_addr/443"

# ---------------------------------------------------------------- mxtlsd, Postfix
MX_PORT=$(free_port $((18900 + 10 * TESTBED_SLOT)))
openssl genrsa -out "$T/dkim.key" 2048 2>/dev/null
openssl rsa -in "$T/dkim.key" -pubout -out "$T/dkim.pub" 2>/dev/null
pf_dir=$T/pf/etc
cfg=$T/mxtlsd.yml
# one YAML file: mxtlsd reads its keys and ignores the reporter's tlsrpt: section
mx_config "$cfg" "$MX_PORT" "$T/cache.db" \
    "tlsrpt:" \
    "  organization_name: mxtls e2e sender" \
    "  contact_info: tlsrpt@sender.example" \
    "  submitter: sender.example" \
    "  store: $T/tlsrpt.db" \
    "  mxtlsd_log: $T/mxtlsd.log" \
    "  postfix_log: $T/pf/maillog" \
    "  mail_from: tlsrpt-noreply@sender.example" \
    "  sendmail: $(command -v sendmail)" \
    "  sendmail_config_dir: $pf_dir" \
    "  dkim_key: $T/dkim.key" \
    "  dkim_selector: tlsrpt" \
    "  dkim_domain: sender.example" \
    "  ca_file: $TESTBED_CA"
mx_start mxtlsd "$cfg"
pf_init "$T/pf" "socketmap:inet:127.0.0.1:$MX_PORT:postfix" || exit 1
pf_start || exit 1

# ---------------------------------------------------------------- the attacks
mapfile -t cases < <(sed -nE 's/^#= ([^ ]+) \| ([^|]+) \| ([0-9]+)$/\1 \2 \3/p' "$scn")
declare -A qid
for c in "${cases[@]}"; do
    d=${c%% *}
    pf_send "user@$d" "t-$d"
done
for c in "${cases[@]}"; do
    d=${c%% *}
    qid[$d]=$(pf_qid "t-$d")
    st=$(pf_status "${qid[$d]}" "user@$d" 1)
    case $st in sent | deferred) ok "$d: first attempt ended ($st)" ;;
    *) not_ok "$d: first attempt ended (got $st)" ;; esac
done

# ---------------------------------------------------------------- collect
out=$("$MXTLS" tlsrpt collect -c "$cfg" 2>&1) || true
has "collect reads Postfix's log and mxtlsd's policy records" "$out" \
    "collect: [0-9]+ lines, [1-9][0-9]* sessions .*, [1-9][0-9]* policy records, 0 malformed"
out2=$("$MXTLS" tlsrpt collect -c "$cfg" 2>&1) || true
has "collect again: the position is remembered, nothing is counted twice" "$out2" \
    "collect: [0-9]+ lines, 0 sessions"

# ---------------------------------------------------------------- report
today=$(date -u +%F)
rc=0
out=$("$MXTLS" tlsrpt report -c "$cfg" --day "$today" 2>&1) || rc=$?
check "report exits 0 (every delivery done)" "$rc" 0
printf '%s\n' "$out" | sed 's/^/  # /'
has "strip.ctl.test has no TLS-RPT record: nothing sent" "$out" \
    "^strip\.ctl\.test: no valid TLSRPT record"
n_domains=$(printf '%s\n' "${cases[@]}" | grep -vc '(none)')

# the mails arrive at the testbed mailbox through Postfix
_mails() {
    [ -s "$TESTBED_SMTP_LOG" ] || return 1
    [ "$(jq -c 'select(any(.rcpt[]; . == "tlsrpt@reports.test"))' "$TESTBED_SMTP_LOG" | wc -l)" \
        -ge "$n_domains" ]
}
if pf_wait "the report mails" _mails; then ok "$n_domains report mails reached tlsrpt@reports.test"; else
    not_ok "$n_domains report mails reached tlsrpt@reports.test"
fi
check "$n_domains https POSTs reached https://rua.reports.test/tlsrpt" \
    "$(find "$T/rua" -name '*.gz' | wc -l)" "$n_domains"
check "every POST: /tlsrpt, Content-Type application/tlsrpt+gzip" \
    "$(cat "$T"/rua/*.hdr | sort -u)" "/tlsrpt application/tlsrpt+gzip"

# ---------------------------------------------------------------- contents
mkdir -p "$T/mail"
declare -A got_post got_mail
for f in "$T"/rua/*.gz; do
    line=$(python3 "$here/tlsrpt_check.py" json "$f" 2>&1) ||
        { not_ok "POSTed report $f validates (RFC 8460 §4.4): $line"; continue; }
    got_post[${line%%|*}]=$line
done
for f in $(jq -r 'select(any(.rcpt[]; . == "tlsrpt@reports.test")) | .file' "$TESTBED_SMTP_LOG"); do
    dom=$(python3 "$here/tlsrpt_check.py" mail "$f" "$T/mail/$(basename "$f").json.gz" 2>&1) ||
        { not_ok "report mail $f is RFC 8460 §5.3: $dom"; continue; }
    line=$(python3 "$here/tlsrpt_check.py" json "$T/mail/$(basename "$f").json.gz" 2>&1) ||
        { not_ok "mailed report of $dom validates: $line"; continue; }
    got_mail[$dom]=$line
    v=$(python3 "$here/dkim_verify.py" "$f" "$T/dkim.pub" 2>&1) || true
    check "$dom: the mail's DKIM signature verifies (independent verifier)" "$v" \
        "dkim: pass (d=sender.example s=tlsrpt)"
done
TABLE=()
for c in "${cases[@]}"; do
    read -r d results succ <<<"$c"
    if [ "$results" = "(none)" ]; then
        check "$d: no report (no TLS-RPT record)" "${got_post[$d]:-}${got_mail[$d]:-}" ""
        TABLE+=("$(printf '%-20s %-28s %s' "$d" "(no record)" "nothing sent")")
        continue
    fi
    check "$d: POSTed report: result types $results, $succ successful" "${got_post[$d]:-none}" \
        "$d|$results|$succ"
    check "$d: mailed report: the same" "${got_mail[$d]:-none}" "$d|$results|$succ"
    TABLE+=("$(printf '%-20s %-28s %s' "$d" "$results" "$succ successful")")
done

# ---------------------------------------------------------------- once, no loops
out=$("$MXTLS" tlsrpt report -c "$cfg" --day "$today" 2>&1) || true
hasnt "a second report run delivers nothing again (once per rua)" "$out" "delivered"
out=$("$MXTLS" tlsrpt collect -c "$cfg" 2>&1) || true
has "collect after the reports: their cleanup lines are recognised" "$out" \
    "[1-9][0-9]* own report mails"
check "the report mails' own sessions are not collected (no report loop)" \
    "$(sqlite3 "$T/tlsrpt.db" "SELECT count(*) FROM counts WHERE domain='reports.test'" 2>&1)" 0

# ---------------------------------------------------------------- closed loop (issue 13)
rc=0
ing=$("$MXTLS" tlsrpt ingest --db "$T/received.db" "$T"/rua/*.gz \
    $(jq -r 'select(any(.rcpt[]; . == "tlsrpt@reports.test")) | .file' "$TESTBED_SMTP_LOG") 2>&1) ||
    rc=$?
check "mxtls tlsrpt ingest stores every delivered report (exit 0)" "$rc" 0
[ "$rc" = 0 ] || printf '%s\n' "$ing" | sed 's/^/  # /' | head -n 20
sum=$("$MXTLS" tlsrpt summary --db "$T/received.db" --json 2>&1) || true
for c in "${cases[@]}"; do
    read -r d results succ <<<"$c"
    [ "$results" = "(none)" ] && continue
    want=$([ "$results" = - ] || echo "$results")
    gotf=$(jq -r --arg d "$d" '[.policy_domains[] | select(.policy_domain == $d) |
        .failure_types | keys[]] | unique | join(",")' <<<"$sum" 2>/dev/null) || gotf="(no summary)"
    check "$d: summary after ingest shows failure types '${want}'" "$gotf" "$want"
    gots=$(jq -r --arg d "$d" '[.policy_domains[] | select(.policy_domain == $d) |
        .total_successful_session_count] | add' <<<"$sum" 2>/dev/null) || gots="(no summary)"
    # each report arrived twice (mail and https) with the same report-id: stored once
    check "$d: summary after ingest shows $succ successful sessions (duplicates stored once)" \
        "$gots" "$succ"
done

echo "# scenario domain      result types in the report   successes"
printf '# %s\n' "${TABLE[@]}"
done_testing

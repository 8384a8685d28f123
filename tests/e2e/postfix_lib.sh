# shellcheck shell=bash
# postfix_lib.sh - a private Postfix instance for the end-to-end tests
# (sourced, not run). Nothing on the host changes: the instance has its own
# configuration directory, queue, data directory and log file under PF_TOP;
# its master runs inside tests/testbed/run (a private mount namespace whose
# /etc/resolv.conf names the testbed's validating unbound); /etc/postfix is
# only read (postfix-files, for `postfix check`). The system Postfix is never
# started or signalled.
#
#   pf_init TOP POLICY_MAP [STRICT_MAP]  # write TOP/etc/{main,master}.cf, run `postfix check`
#                                        # (the postfix user must be able to reach TOP)
#   pf_start                             # exec the master (PF_PID) and wait for it
#   pf_send RCPT TAG                     # sendmail -C; Message-ID <TAG@sender.example>
#   pf_qid TAG                           # the queue ID cleanup logged for TAG (polls)
#   pf_status QID RCPT [N]               # waits for the Nth status= line: sent, deferred, ...
#   pf_queued QID                        # postqueue -j: the message is queued (prints its entry)
#   pf_log QID                           # the maillog lines of that queue ID
#   pf_stop                              # SIGTERM the master, wait, check nothing is left
#
# The Postfix configuration is the one doc/postfix.md shows (what a user of
# mxtlsd copies), plus what a private test instance needs: its own
# directories, no chroot, no smtpd listener, a log file, short retry times.
#
# Needs: PF_TB (tests/testbed), TESTBED_DIR, TESTBED_CA; ok/not_ok from
# tests/testbed/lib.sh. Waits are polls with a deadline (PF_DEADLINE seconds
# each, PF_END overall), never fixed sleeps.

PF_TOP=
PF_DIR=
PF_PID=
PF_LOG=
PF_DEADLINE=${PF_DEADLINE:-30}
PF_DAEMON_DIR=$(postconf -dh daemon_directory 2>/dev/null || echo /usr/lib/postfix/sbin)

# pf_init TOP POLICY_MAP [STRICT_MAP]: an instance in TOP (which must exist)
# whose smtp transport asks POLICY_MAP and whose "smtp-strict" transport asks
# STRICT_MAP (for recipients that transport_maps routes there: PF_TRANSPORT,
# an inline: table, may be set before).
pf_init() {
    PF_TOP=$1
    local policy=$2 strict=${3:-$2}
    PF_DIR=$PF_TOP/etc
    PF_LOG=$PF_TOP/maillog
    mkdir -p "$PF_DIR" "$PF_TOP/data" "$PF_TOP/queue"
    # `postfix check` creates the queue's subdirectories; the postfix user
    # must be able to reach the queue and own the data directory
    chmod 755 "$PF_TOP"
    chown postfix "$PF_TOP/data"
    if ! runuser -u postfix -- test -w "$PF_TOP/data"; then
        not_ok "the postfix user can reach $PF_TOP/data (every parent directory needs o+x)"
        return 1
    fi
    cat >"$PF_DIR/main.cf" <<EOF
# main.cf - a private Postfix instance for tests/e2e (see doc/postfix.md)
compatibility_level = 3.6
queue_directory = $PF_TOP/queue
data_directory = $PF_TOP/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $PF_LOG
maillog_file_prefixes = $PF_TOP

# a sender only: no local delivery, no listener, no relay
myhostname = sender.example
mydestination =
relayhost =
inet_interfaces = loopback-only
inet_protocols = ipv4
alias_maps =
alias_database =
local_recipient_maps =

# outbound TLS as the hardening guide says: DNSSEC-validated DNS (the AD bit
# of the resolver in /etc/resolv.conf, "options trust-ad"), DANE where TLSA
# records are published, and per-domain policy from mxtlsd (MTA-STS)
smtp_dns_support_level = dnssec
dnssec_probe = ns:test
smtp_tls_security_level = dane
smtp_tls_policy_maps = $policy
smtp_tls_CAfile = $TESTBED_CA
smtp_tls_loglevel = 1, certmatch
transport_maps = ${PF_TRANSPORT:-}

# a test instance: retry soon, give up late
minimal_backoff_time = 2s
maximal_backoff_time = 10s
queue_run_delay = 2s
bounce_queue_lifetime = 1h
maximal_queue_lifetime = 1h
smtp_connect_timeout = 10s
EOF
    # master.cf: Debian's services without chroot (the smtp client must read
    # /etc/resolv.conf, not a copy in the queue directory), without smtpd and
    # local delivery, with postlogd for maillog_file
    cat >"$PF_DIR/master.cf" <<EOF
# master.cf - a private Postfix instance for tests/e2e (see doc/postfix.md)
# service type  private unpriv  chroot  wakeup  maxproc command + args
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
smtp-strict unix -      -       n       -       -       smtp
  -o syslog_name=postfix/smtp-strict
  -o smtp_tls_policy_maps=$strict
EOF
    local out
    if out=$(postfix -c "$PF_DIR" check 2>&1); then
        ok "Postfix instance in $PF_DIR: postfix check"
    else
        not_ok "Postfix instance in $PF_DIR: postfix check"
        printf '%s\n' "$out" | sed 's/^/  # /'
        return 1
    fi
}

# pf_alive PID: the process exists and is not a zombie
pf_alive() {
    local st
    st=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

# pf_procs: PIDs of processes of this instance: the command line or the
# environment (MAIL_CONFIG, which the master passes to every child) names
# PF_DIR
pf_procs() {
    local p
    for p in /proc/[0-9]*; do
        if { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -qxF "MAIL_CONFIG=$PF_DIR" ||
            { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF "$PF_DIR"; then
            echo "${p#/proc/}"
        fi
    done
}

# pf_start: the master, exec'd (run execs unshare, which execs sh, which
# execs master: $! is the master's PID). Waits until it wrote its PID file
# and qmgr runs.
pf_start() {
    local i pidf=$PF_TOP/queue/pid/master.pid
    "$PF_TB/run" "$TESTBED_DIR" -- "$PF_DAEMON_DIR/master" -c "$PF_DIR" \
        </dev/null >>"$PF_TOP/master.out" 2>&1 &
    PF_PID=$!
    for ((i = 0; i < PF_DEADLINE * 10; i++)); do
        if ! pf_alive "$PF_PID"; then
            not_ok "Postfix master started (it exited)"
            sed 's/^/  # /' "$PF_TOP/master.out" "$PF_LOG" 2>/dev/null | tail -n 20
            return 1
        fi
        if [ "$({ tr -d ' \n' <"$pidf"; } 2>/dev/null)" = "$PF_PID" ] &&
            grep -q "postfix/master\[$PF_PID\]: daemon started" "$PF_LOG" 2>/dev/null; then
            ok "Postfix master (pid $PF_PID) runs with -c $PF_DIR"
            return 0
        fi
        sleep 0.1
    done
    not_ok "Postfix master (pid $PF_PID) started within ${PF_DEADLINE}s"
    return 1
}

# pf_stop: SIGTERM exactly the master (it stops its children), wait for it,
# then check that no process of this instance is left
pf_stop() {
    local i left
    [ -n "$PF_PID" ] || return 0
    if pf_alive "$PF_PID" && { tr '\0' ' ' <"/proc/$PF_PID/cmdline"; } 2>/dev/null |
        grep -qF "master -c $PF_DIR"; then
        kill -TERM "$PF_PID" 2>/dev/null || true
    fi
    for ((i = 0; i < 150; i++)); do
        pf_alive "$PF_PID" || break
        sleep 0.1
    done
    wait "$PF_PID" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        left=$(pf_procs)
        [ -z "$left" ] && break
        sleep 0.1
    done
    PF_PID=
    if [ -z "$left" ]; then
        ok "Postfix stopped: no process of the instance is left"
    else
        not_ok "Postfix stopped: no process of the instance is left"
        for i in $left; do
            echo "  # $i: $({ tr '\0' ' ' <"/proc/$i/cmdline"; } 2>/dev/null)"
        done
        return 1
    fi
}

# pf_send RCPT TAG: submit one message with sendmail -C (postdrop into the
# instance's maildrop)
pf_send() {
    local rcpt=$1 tag=$2
    printf '%s\r\n' "From: e2e <root@sender.example>" "To: <$rcpt>" \
        "Subject: mxtls e2e $tag" "Message-ID: <$tag@sender.example>" "" \
        "scenario $tag" |
        sendmail -C "$PF_DIR" -f root@sender.example -- "$rcpt"
}

# pf_wait DESC CMD...: poll CMD (output to stdout) until it succeeds, for
# at most PF_DEADLINE seconds and never past PF_END (a value of $SECONDS: the
# whole test's budget, so that a broken daemon fails the test well before
# meson's timeout, with time left for the tear-down); CMD runs at least once
pf_wait() {
    local desc=$1 i tries=$((PF_DEADLINE * 5)) left
    shift
    if [ -n "${PF_END:-}" ]; then
        left=$((PF_END - SECONDS))
        [ "$left" -lt 0 ] && left=0
        [ $((left * 5)) -lt "$tries" ] && tries=$((left * 5))
    fi
    for ((i = 0; ; i++)); do
        "$@" && return 0
        [ "$i" -ge "$tries" ] && break
        sleep 0.2
    done
    echo "  # gave up waiting for $desc" >&2
    return 1
}

_pf_qid() { sed -nE "s/.*: ([0-9A-F]+): message-id=<$1@sender\.example>.*/\1/p" "$PF_LOG" | grep .; }

# pf_qid TAG: the queue ID of the message with Message-ID <TAG@sender.example>
pf_qid() { pf_wait "the queue ID of $1" _pf_qid "$1"; }

_pf_status() {
    local n
    n=$(grep -cE ": $1: to=<$2>,.* status=[a-z]+" "$PF_LOG")
    [ "$n" -ge "$3" ] || return 1
    grep -E ": $1: to=<$2>,.* status=[a-z]+" "$PF_LOG" | sed -n "${3}p" |
        sed -nE 's/.* status=([a-z]+).*/\1/p'
}

# pf_status QID RCPT [N]: the status of the Nth delivery attempt (default 1)
# for RCPT: sent, deferred, bounced; "none" when none is logged in time
pf_status() { pf_wait "delivery attempt ${3:-1} of $1 to $2" _pf_status "$1" "$2" "${3:-1}" || echo none; }

# pf_queued QID: the message is in the queue (postqueue -j); prints its entry
pf_queued() {
    # (not jq -e: its status is that of the last input, not of any output)
    postqueue -c "$PF_DIR" -j 2>/dev/null | jq -c --arg id "$1" 'select(.queue_id == $id)' | grep .
}

# pf_log QID: the maillog lines about QID
pf_log() { grep -F ": $1: " "$PF_LOG" || true; }

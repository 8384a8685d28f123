# shellcheck shell=bash
# exim_lib.sh - a private Exim instance for tests/e2e/exim_e2e.sh (sourced,
# not run; needs tests/integration/mxtlsd_lib.sh first). Changes nothing on
# the host: the instance's configuration, spool and logs live in one
# directory, and every Exim process runs in the testbed's mount namespace
# (tests/testbed/run: its resolv.conf) with two more bind mounts, a copy of
# /etc/passwd and /etc/group that adds the user Exim is built to run as.
#
#   ex_find                       # EX_BIN: the Exim binary (see below), or fail
#   ex_mx_start LABEL CFG SOCKET  # mxtlsd on a Unix socket (mx_start for TCP); sets MX_LAST_PID
#   ex_init DIR SOCKET ZONE-EXPR  # configuration (contrib/exim/*), spool, log; exim -bV
#   ex_run ARGS...                # exim -C CONF ARGS, in the namespace, bounded in time
#   ex_send RCPT TAG              # submit a message, queued only (-odq); sets EX_ID
#   ex_deliver ID                 # one delivery attempt of ID, now (exim -M), in the foreground
#   ex_status ID RCPT [N]         # status of attempt N: delivered, deferred, failed, none
#   ex_session ID RCPT N          # the mainlog lines of attempt N (since the previous one)
#   ex_queued ID                  # ID is still in the spool
#   ex_procs                      # PIDs of processes whose command line names DIR
#
# The binary: EXIM if set, else the copy scripts/deps extracts from Debian's
# exim4-daemon-heavy (/opt/mxtls-test/exim4/usr/sbin/exim4), else an
# installed /usr/sbin/exim4. Debian's Exim refuses to start unless the user
# "Debian-exim" exists (its EXIM_USER is looked up before the configuration
# is read); the exim4 packages, which create it, conflict with Postfix, so
# the copy of /etc/passwd maps that name to nobody/nogroup when the host
# has no such user. Exim runs as root (started by this test) and gives up
# root for the smtp transport, as that user.
#
# No Exim daemon runs: each delivery attempt is an `exim -M ID` that the
# test waits for (under `timeout`), so no PID outlives its command.

EX_DIR=
EX_CONF=
EX_BIN=
EX_LOG=
EX_ID=
EX_LIMIT=${EX_LIMIT:-60} # seconds for one exim command
EX_CONTRIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../contrib/exim" && pwd)

# ex_find: sets EX_BIN to an Exim 4 binary, or fails
ex_find() {
    local c
    for c in "${EXIM:-}" /opt/mxtls-test/exim4/usr/sbin/exim4 /usr/sbin/exim4; do
        if [ -n "$c" ] && [ -x "$c" ]; then
            EX_BIN=$c
            return 0
        fi
    done
    return 1
}

# ex_ns CMD...: CMD in the testbed's mount namespace, with the private
# passwd and group files bound over the host's
ex_ns() {
    "$TB/run" "$TESTBED_DIR" -- /bin/sh -c '
        set -e
        mount --bind "$1/passwd" /etc/passwd
        mount --bind "$1/group" /etc/group
        shift
        exec "$@"' ex-ns "$EX_DIR" "$@"
}

# ex_run ARGS...: exim -C CONF ARGS (stdin passed on), at most EX_LIMIT s
ex_run() { ex_ns timeout -k 5 "$EX_LIMIT" "$EX_BIN" -C "$EX_CONF" "$@"; }

# ex_mx_start LABEL CONFIG SOCKET: start mxtlsd (MXTLSD) listening on the
# Unix socket SOCKET (CONFIG's path:), as mxtlsd_lib's mx_start does on TCP:
# PID in MX_PIDS and MX_LAST_PID, log in MX_TMP/LABEL.log; ok once its
# pidfile is written (mxtlsd writes it when it answers) and SOCKET exists.
ex_mx_start() {
    local label=$1 cfg=$2 sock=$3 i
    rm -f "$MX_TMP/$label.pid"
    "$MXTLSD" -c "$cfg" -v debug -l "$MX_TMP/$label.log" -p "$MX_TMP/$label.pid" \
        </dev/null >>"$MX_TMP/$label.out.log" 2>&1 &
    MX_LAST_PID=$!
    MX_PIDS+=("$MX_LAST_PID")
    for ((i = 0; i < MX_DEADLINE * 10; i++)); do
        if ! alive "$MX_LAST_PID"; then
            not_ok "$label started (it exited; log follows)"
            tail -n 20 "$MX_TMP/$label.out.log" "$MX_TMP/$label.log" 2>/dev/null | sed 's/^/  # /'
            exit 1
        fi
        if [ -s "$MX_TMP/$label.pid" ] && [ -S "$sock" ]; then
            ok "$label (mxtlsd, pid $MX_LAST_PID) answers on $sock"
            return 0
        fi
        sleep 0.1
    done
    not_ok "$label answers on $sock within ${MX_DEADLINE}s"
    exit 1
}

# ex_init DIR SOCKET ZONE-EXPR: the instance in DIR: its configuration is a
# test header (paths, the testbed's CA, no ignored loopback addresses, quick
# retries) followed by contrib/exim's three files, included as they are
# shipped. SOCKET is mxtlsd's Unix socket (its path); ZONE-EXPR the map
# name, an Exim expansion.
ex_init() {
    local dir=$1 socket=$2 zone=$3 uid gid out
    EX_DIR=$dir
    EX_CONF=$dir/exim.conf
    EX_LOG=$dir/log/mainlog
    mkdir -p "$dir/spool" "$dir/log"
    cp /etc/passwd "$dir/passwd"
    cp /etc/group "$dir/group"
    if ! getent passwd Debian-exim >/dev/null; then
        echo "Debian-exim:x:65534:65534:Exim (mxtls e2e):/nonexistent:/usr/sbin/nologin" >>"$dir/passwd"
    fi
    if ! getent group Debian-exim >/dev/null; then
        echo "Debian-exim:x:65534:" >>"$dir/group"
    fi
    uid=$(awk -F: '$1 == "Debian-exim" { print $3 }' "$dir/passwd" | head -n 1)
    gid=$(awk -F: '$1 == "Debian-exim" { print $3 }' "$dir/group" | head -n 1)
    chown "$uid:$gid" "$dir/spool" "$dir/log"
    cat >"$EX_CONF" <<EOF
# exim.conf - a private Exim instance for tests/e2e/exim_e2e.sh: this header,
# then contrib/exim/ as shipped (doc/exim.md)
MXTLS_SOCKET = $socket
MXTLS_ZONE = $zone
MXTLS_TIMEOUT = 20s
MXTLS_CA = $TESTBED_CA
# the testbed's MX hosts are on 127.0.0.0/8
MXTLS_IGNORE = 0.0.0.0
.include $EX_CONTRIB/mxtls_main.conf

exim_path = $EX_BIN
primary_hostname = sender.example
qualify_domain = sender.example
spool_directory = $dir/spool
log_file_path = $dir/log/%slog
log_selector = +tls_certificate_verified +tls_peerdn +tls_sni +outgoing_port +received_recipients
keep_environment =
trusted_users = root
domainlist local_domains =
# the testbed's DNS is a few milliseconds away; do not wait for slow answers
dns_retrans = 2s
dns_retry = 2

begin routers
.include $EX_CONTRIB/mxtls_routers.conf

begin transports
.include $EX_CONTRIB/mxtls_transports.conf

begin retry
*   *   F,1h,1m
EOF
    if out=$(ex_run -bV 2>&1) && grep -q "^Configuration file is $EX_CONF" <<<"$out"; then
        ok "Exim instance in $dir: $(head -n 1 <<<"$out"), configuration accepted (exim -bV)"
    else
        not_ok "Exim instance in $dir: exim -C $EX_CONF -bV"
        printf '%s\n' "$out" | sed 's/^/  # /' | tail -n 20
        return 1
    fi
}

# ex_send RCPT TAG: submit a message (Message-ID <TAG@sender.example>) from
# root, queued only; EX_ID is its Exim message ID (empty when not accepted)
ex_send() {
    local rcpt=$1 tag=$2
    EX_ID=
    printf '%s\n' "From: e2e <root@sender.example>" "To: <$rcpt>" \
        "Subject: mxtls exim e2e $tag" "Message-ID: <$tag@sender.example>" "" "scenario $tag" |
        ex_run -odq -oi -f root@sender.example -- "$rcpt" || return 1
    EX_ID=$(sed -nE "s/^[0-9-]+ [0-9:]+ ([0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}) <= .* id=$tag@sender\.example( .*)?$/\1/p" \
        "$EX_LOG" | head -n 1)
    [ -n "$EX_ID" ]
}

# ex_deliver ID: one delivery attempt, now, whatever the retry times (-M)
ex_deliver() { ex_run -M "$1" >/dev/null 2>&1 || true; }

# _ex_status_lines ID RCPT: the mainlog's status lines of ID for RCPT
_ex_status_lines() {
    grep -E "^[0-9-]+ [0-9:]+ $1 (=>|==|\*\*) $2 " "$EX_LOG" 2>/dev/null || true
}

# ex_status ID RCPT [N]: the status of attempt N (default 1): delivered
# (=>), deferred (==), failed (**), none
ex_status() {
    local l
    l=$(_ex_status_lines "$1" "$2" | sed -n "${3:-1}p")
    case $l in
    *" => "*) echo delivered ;;
    *" == "*) echo deferred ;;
    *" ** "*) echo failed ;;
    *) echo none ;;
    esac
}

# ex_statuses ID RCPT: every attempt's status, in order
ex_statuses() {
    _ex_status_lines "$1" "$2" | awk '{ print ($4 == "=>") ? "delivered" : ($4 == "==") ? "deferred" : "failed" }' |
        paste -sd' ' -
}

# ex_session ID RCPT N: the mainlog lines of ID from after attempt N-1's
# status line to attempt N's
ex_session() {
    awk -v id="$1" -v rcpt="$2" -v n="$3" '
        $3 != id { next }
        { buf = buf $0 "\n" }
        ($4 == "=>" || $4 == "==" || $4 == "**") && $5 == rcpt {
            if (++k == n) { printf "%s", buf; exit }
            buf = ""
        }' "$EX_LOG"
}

# ex_queued ID: the message is still in the spool
ex_queued() { [ -f "$EX_DIR/spool/input/$1-H" ]; }

# ex_procs: PIDs of processes whose command line names EX_DIR
ex_procs() {
    local p
    for p in /proc/[0-9]*; do
        if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF "$EX_DIR/exim.conf"; then
            echo "${p#/proc/}"
        fi
    done
}

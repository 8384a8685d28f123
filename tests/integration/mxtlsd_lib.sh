# shellcheck shell=bash
# mxtlsd_lib.sh - shared by policy.sh, expiry.sh and compare.sh (sourced,
# not run): a testbed, a scratch directory, policy daemons (mxtlsd or the
# mta-sts-daemon it replaces) started with their PID recorded, and Postfix's
# own client asking them.
#
#   . "$here/mxtlsd_lib.sh"                 # also sources tests/testbed/lib.sh
#   mx_setup SCN                            # testbed up (slot: TESTBED_SLOT), MX_TMP, trap
#   mx_config FILE PORT CACHEDB [YAML...]   # an mxtlsd configuration for the testbed
#   mx_start LABEL CONFIG                   # start mxtlsd; sets MX_LAST_PID
#   peer_start LABEL CONFIG PORT            # start mta-sts-daemon under tests/testbed/run
#   stop_pid PID                            # SIGTERM exactly that PID, wait; returns its status
#   q ZONE KEY [PORT]                       # what `postmap -q` shows: text, NOTFOUND, TEMP, ERROR...
#   scn_cases SCN                           # the "#> ZONE KEY | EXPECTED | WHY" lines, tab-separated
#   same_reply A B                          # equal, "match=" lists compared as sets
#   set_policy DOMAIN LINE...               # rewrite the body nginx serves for DOMAIN
#   fail_policy DOMAIN                      # remove it: the policy host answers 404
#   set_txt NAME "TXT"... / del_txt NAME    # edit the running scenario's _mta-sts record(s)
#   dns_reload                              # apply those edits (tests/testbed/ctl reload)
#
# Every process started here is recorded in MX_PIDS and only those are
# stopped, on exit too (before the testbed goes down). MX_TMP (configs,
# caches, logs, the Postfix configuration directory) is removed at the end
# unless TESTBED_KEEP=1.

# shellcheck source=/dev/null
. "$(cd "$(dirname "$0")" && pwd)/../testbed/lib.sh"

MX_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MX_TMP=
MX_PIDS=()
MX_LAST_PID=
MX_PFDIR=
MX_DEADLINE=${MX_DEADLINE:-20} # seconds for a daemon to answer after start

mx_teardown() {
    local rc=$? pid
    trap - EXIT
    for pid in "${MX_PIDS[@]}"; do
        stop_pid "$pid" >/dev/null 2>&1 || true
    done
    if [ -n "$MX_TMP" ] && [ -d "$MX_TMP" ]; then
        if [ "$rc" -ne 0 ] || [ "$TB_FAILS" -gt 0 ]; then
            for f in "$MX_TMP"/*.log; do
                [ -s "$f" ] && { echo "---- $f"; tail -n 40 "$f"; }
            done >&2
        fi
        if [ "${TESTBED_KEEP:-0}" = 1 ]; then
            echo "scratch directory kept in $MX_TMP" >&2
        else
            rm -rf "$MX_TMP"
        fi
    fi
    # tb_teardown takes the status from $?; errexit must not end the trap
    # at the subshell that sets it
    set +e
    (exit "$rc")
    tb_teardown
}

# mx_setup SCN: bring the testbed up, make the scratch directory and a
# private Postfix configuration directory (postmap needs only a main.cf; no
# Postfix daemon runs).
mx_setup() {
    testbed_up "$1"
    trap mx_teardown EXIT
    MX_TMP=$(mktemp -d /tmp/mxtls-mxtlsd-XXXXXX)
    MX_PFDIR=$MX_TMP/postfix
    mkdir -p "$MX_PFDIR"
    printf '%s\n' "# private Postfix configuration for postmap -c (tests/integration)" \
        "compatibility_level = 3.6" >"$MX_PFDIR/main.cf"
    command -v postmap >/dev/null || { not_ok "postmap (Postfix) is installed"; exit 1; }
}

# port_busy PORT: something listens on 127.0.0.1:PORT
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port [START]: the first port from START (default 18500 + 10 *
# TESTBED_SLOT) on that nothing listens on 127.0.0.1, within 200 ports;
# fails when none is. (Another run may take it before we bind: mx_start
# then fails "port ... is free" rather than talk to someone else's daemon.)
free_port() {
    local p=${1:-$((18500 + 10 * ${TESTBED_SLOT:-0}))} end
    end=$((p + 200))
    while [ "$p" -lt "$end" ]; do
        port_busy "$p" || { echo "$p"; return 0; }
        p=$((p + 1))
    done
    echo "free_port: nothing free from $((end - 200)) to $((end - 1))" >&2
    return 1
}

# mx_config FILE PORT CACHEDB [LINE...]: an mxtlsd configuration using the
# testbed's resolver and CA, the zones the scenario's cases name, and any
# extra top-level YAML lines. The explain map stays on the policy port
# (explain_on_policy_port: MX_EXPLAIN_ON_POLICY_PORT, default true: the
# tests written before the control socket ask it there; issue 18).
mx_config() {
    local file=$1 port=$2 db=$3
    shift 3
    {
        echo "host: 127.0.0.1"
        echo "port: $port"
        echo "explain_on_policy_port: ${MX_EXPLAIN_ON_POLICY_PORT:-true}"
        echo "shutdown_timeout: 2"
        echo "cache:"
        echo "  type: sqlite"
        echo "  options:"
        echo "    filename: $db"
        echo "resolver:"
        echo "  unbound_config: $TESTBED_UNBOUND_CONF"
        echo "https:"
        echo "  ca_file: $TESTBED_CA"
        echo "default_zone:"
        echo "  strict_testing: false"
        echo "  timeout: 4"
        echo "zones:"
        echo "  strict:"
        echo "    strict_testing: true"
        echo "  nosni:"
        echo "    require_sni: false"
        echo "  nodane:"
        echo "    dane: false"
        local l
        for l in "$@"; do echo "$l"; done
    } >"$file"
}

# alive PID: the process exists and is not a zombie
alive() {
    local st
    st=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

# ours PID: alive and its command line names our scratch directory (a
# recycled PID is never signalled)
ours() {
    alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$MX_TMP"
}

# wait_answer LABEL PID PORT [PIDFILE]: until the daemon accepts TCP
# connections (and, for mxtlsd, has written PIDFILE with its PID).
wait_answer() {
    local label=$1 pid=$2 port=$3 pidfile=${4:-} i
    for ((i = 0; i < MX_DEADLINE * 10; i++)); do
        if ! alive "$pid"; then
            not_ok "$label started (it exited; log follows)"
            tail -n 20 "$MX_TMP/$label.log" 2>/dev/null | sed 's/^/  # /'
            return 1
        fi
        if [ -n "$pidfile" ] && [ ! -s "$pidfile" ]; then
            sleep 0.1
            continue
        fi
        if port_busy "$port"; then
            if [ -n "$pidfile" ] && [ "$(cat "$pidfile")" != "$pid" ]; then
                not_ok "$label: pidfile holds $(cat "$pidfile"), started $pid"
                return 1
            fi
            return 0
        fi
        sleep 0.1
    done
    not_ok "$label answers on 127.0.0.1:$port within ${MX_DEADLINE}s"
    return 1
}

# mx_start LABEL CONFIG: start mxtlsd (MXTLSD, the binary) in the
# foreground, in the background of this shell, with extra environment from
# the array MX_ENV (e.g. libfaketime). Sets MX_LAST_PID; fails the test if it
# does not answer.
MX_ENV=()
mx_start() {
    local label=$1 cfg=$2 port
    port=$(awk '$1 == "port:" { print $2 }' "$cfg")
    if port_busy "$port"; then not_ok "$label: port $port is free"; exit 1; fi
    rm -f "$MX_TMP/$label.pid"
    env "${MX_ENV[@]}" "$MXTLSD" -c "$cfg" -v debug -l "$MX_TMP/$label.log" \
        -p "$MX_TMP/$label.pid" </dev/null >>"$MX_TMP/$label.out.log" 2>&1 &
    MX_LAST_PID=$!
    MX_PIDS+=("$MX_LAST_PID")
    wait_answer "$label" "$MX_LAST_PID" "$port" "$MX_TMP/$label.pid" || exit 1
    ok "$label (mxtlsd, pid $MX_LAST_PID) answers on 127.0.0.1:$port"
}

# peer_start LABEL CONFIG PORT: start mta-sts-daemon (the Debian package)
# with the testbed's resolv.conf and CA (tests/testbed/run --ca). run execs
# unshare, which execs sh, which execs the daemon: $! is the daemon's PID.
peer_start() {
    local label=$1 cfg=$2 port=$3
    command -v mta-sts-daemon >/dev/null || { not_ok "mta-sts-daemon is installed"; exit 1; }
    if port_busy "$port"; then not_ok "$label: port $port is free"; exit 1; fi
    env "${MX_ENV[@]}" "$TB/run" "$TESTBED_DIR" --ca -- \
        mta-sts-daemon -c "$cfg" -v debug -l "$MX_TMP/$label.log" \
        </dev/null >>"$MX_TMP/$label.out.log" 2>&1 &
    MX_LAST_PID=$!
    MX_PIDS+=("$MX_LAST_PID")
    wait_answer "$label" "$MX_LAST_PID" "$port" || exit 1
    if ! tr '\0' ' ' <"/proc/$MX_LAST_PID/cmdline" | grep -q mta-sts-daemon; then
        not_ok "$label: pid $MX_LAST_PID is mta-sts-daemon"
        exit 1
    fi
    ok "$label (mta-sts-daemon, pid $MX_LAST_PID) answers on 127.0.0.1:$port"
}

# stop_pid PID: SIGTERM exactly PID (if it is still ours), wait up to 15 s,
# then SIGKILL; reap it. Returns its exit status (143 for a SIGTERM death,
# 137 after SIGKILL), 0 when it was gone already.
stop_pid() {
    local pid=$1 i rc=0
    if ours "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            echo "# pid $pid ignored SIGTERM for 15 s: SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || rc=$?
    return "$rc"
}

# q ZONE KEY [PORT]: ask through Postfix's socketmap client, as
# smtp_tls_policy_maps would: `postmap -q KEY socketmap:inet:127.0.0.1:PORT:ZONE`.
# Prints one line: the value (postmap exits 0, the text after "OK "),
# NOTFOUND (exit 1, nothing printed, no warning), TEMP (exit 1, nothing on
# stdout; stderr "warning: ... socketmap server temporary error: REASON" and
# "fatal: table socketmap:...: query error"), or "ERROR rc=N: <stderr>" for anything
# else; "ERROR no answer ..." when the daemon does not answer within
# MX_QUERY_LIMIT seconds (a hang guard: Postfix's own socketmap limit is
# 100 s, which would outlast the meson timeout). KEY "raw:K" queries K with postmap -f (no lower-casing by Postfix).
MX_PORT=
MX_QUERY_LIMIT=${MX_QUERY_LIMIT:-30}
q() {
    local zone=$1 key=$2 port=${3:-$MX_PORT} fold=() out err rc=0
    case $key in raw:*)
        key=${key#raw:}
        fold=(-f)
        ;;
    esac
    err=$MX_TMP/q.$BASHPID.err
    out=$(timeout -k 5 "$MX_QUERY_LIMIT" postmap -c "$MX_PFDIR" "${fold[@]}" -q "$key" \
        "socketmap:inet:127.0.0.1:$port:$zone" 2>"$err") || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "ERROR no answer within ${MX_QUERY_LIMIT}s (postmap stopped)"
    elif [ "$rc" -eq 0 ] && [ ! -s "$err" ] && [ -n "$out" ]; then
        printf '%s\n' "$out" | head -n 1
    elif [ "$rc" -eq 1 ] && [ -z "$out" ] && [ ! -s "$err" ]; then
        echo NOTFOUND
    elif [ "$rc" -eq 1 ] && [ -z "$out" ] && grep -q "socketmap server temporary error" "$err" &&
        grep -q "fatal: table socketmap:.*query error" "$err"; then
        echo TEMP
    else
        echo "ERROR rc=$rc: $(printf '%s ' "$out" "$(cat "$err")" | tr '\n' ' ')"
    fi
    rm -f "$err"
}

# canon REPLY: REPLY with the colon-separated patterns of "match=" sorted
# (RFC 8461 §4.1: a host matches any pattern; the order means nothing, and
# mta-sts-daemon emits them in Python set order).
canon() {
    local w out=() words
    read -ra words <<<"$1"
    for w in "${words[@]}"; do
        if [[ $w == match=* ]]; then
            w="match=$(tr ':' '\n' <<<"${w#match=}" | LC_ALL=C sort | paste -sd: -)"
        fi
        out+=("$w")
    done
    echo "${out[*]}"
}

# same_reply A B: A and B are the same answer; B ending in "*" matches any
# answer starting with the rest (for "ERROR*": the daemon dropped the
# connection, whatever postmap then printed)
same_reply() {
    case $2 in
    *'*') [[ $1 == "${2%\*}"* ]] ;;
    *) [ "$(canon "$1")" = "$(canon "$2")" ] ;;
    esac
}

# expect_reply WHAT GOT WANT: a check line (ok/not ok) comparing answers
expect_reply() {
    if same_reply "$2" "$3"; then ok "$1"; else
        not_ok "$1"
        echo "  # got:  '$2'"
        echo "  # want: '$3'"
    fi
}

# scn_cases SCN: the "#> ZONE KEY | EXPECTED | WHY" lines as
# ZONE<TAB>KEY<TAB>EXPECTED<TAB>WHY
scn_cases() {
    awk '/^#> / {
        sub(/^#> /, "")
        n = split($0, f, / \| /)
        split(f[1], zk, " ")
        printf "%s\t%s\t%s\t%s\n", zk[1], zk[2], f[2], f[3]
    }' "$1"
}

# set_policy DOMAIN LINE...: the policy body nginx serves for DOMAIN (LF
# line ends); replaced atomically, so a fetch sees the old or the new body.
set_policy() {
    local dom=$1 f
    shift
    f=$TESTBED_DIR/www/$dom/mta-sts.txt
    printf '%s\n' "$@" >"$f.new"
    mv -f "$f.new" "$f"
}

# fail_policy DOMAIN: remove DOMAIN's policy file; nginx answers 404
fail_policy() { rm -f "$TESTBED_DIR/www/$1/mta-sts.txt"; }

# the running scenario, edited by set_txt/del_txt and applied by dns_reload
scn_edit_init() {
    [ -f "$MX_TMP/running.scn" ] || cp "$TESTBED_DIR/scenario.scn" "$MX_TMP/running.scn"
}

# set_txt NAME STRING: NAME's TXT record (one character-string) becomes STRING
set_txt() {
    scn_edit_init
    local name=$1 text=$2
    awk -v n="$name" -v t="$text" '
        $1 == "txt" && $2 == n { if (!done) print "txt " n " \"" t "\""; done = 1; next }
        { print }
        END { if (!done) print "txt " n " \"" t "\"" }' \
        "$MX_TMP/running.scn" >"$MX_TMP/running.scn.new"
    mv -f "$MX_TMP/running.scn.new" "$MX_TMP/running.scn"
}

# del_txt NAME: remove NAME's TXT records
del_txt() {
    scn_edit_init
    awk -v n="$1" '!($1 == "txt" && $2 == n)' "$MX_TMP/running.scn" >"$MX_TMP/running.scn.new"
    mv -f "$MX_TMP/running.scn.new" "$MX_TMP/running.scn"
}

# dns_reload: re-sign and serve the edited scenario (returns once NSD serves it)
dns_reload() {
    if "$TB/ctl" "$TESTBED_DIR" reload "$MX_TMP/running.scn" >"$MX_TMP/ctl.log" 2>&1; then
        ok "testbed DNS reloaded with the changed records"
    else
        not_ok "testbed DNS reloaded with the changed records"
        sed 's/^/  # /' "$MX_TMP/ctl.log"
        exit 1
    fi
}

# jcheck JSON SPEC: the facts SPEC asks for in an explain reply ("PATH=VALUE;
# PATH~VALUE; ...", see jcheck.py); prints one line per failed item
jcheck() { python3 "$MX_LIB_DIR/jcheck.py" "$1" "$2"; }

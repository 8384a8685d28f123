#!/bin/bash
# redis_fleet.sh - a fleet of three mxtlsd on one Redis, found through
# Sentinel (issue 14: `cache: {type: redis_sentinel, ...}`). Everything runs
# on 127.0.0.0/8 and is started here: the testbed (slot 56 unless
# TESTBED_SLOT says otherwise; nginx serves the policies and its access log
# counts the fetches), redis-server master + 1 replica (--replicaof), three
# redis-sentinel (`sentinel monitor mymaster 127.0.0.1 PORT 2`, config
# files written here, since sentinel rewrites them), three mxtlsd:
#
#   1  one fetch serves the fleet: one.fleet.test asked of daemon 1, then of
#      2 and 3: the same secure policy, one GET in nginx's access log,
#      daemon 2's log says it read the policy from the cache store; the key
#      mxtls:v1:policy:one.fleet.test expires (TTL bounded by max_age);
#   2  simultaneous first queries: two.fleet.test asked of the three at once
#      (background postmap): equal secure answers, one fetch (the claim);
#   3  back-off shared: fail.fleet.test's policy host answers 404; asked of
#      daemon 1, then 2 and 3 within 5 minutes: one fetch attempt in all;
#   4  failover: a load (each daemon asked the cached c*.fleet.test domains
#      in turn, and the new n*.fleet.test ones as they are announced) while
#      the master is SIGKILLed and the sentinels promote the replica: every
#      cached domain keeps its secure answer, every query is answered, new
#      domains are answered secure; after the promotion after.fleet.test,
#      asked of daemon 2, is fetched once and served by daemon 3 from Redis.
#      The timeline (every answer with its time) is printed as TAP comments;
#   5  Redis stopped entirely: cached answers go on from each daemon's
#      memory; down.fleet.test is fetched meanwhile; Redis started again on
#      the master's port: the policy fetched while it was down is written
#      (writes catch up), and daemon 3 then reads it from there.
#
# Fetch counts per domain across the fleet (from the daemons' logs, which
# must add up to nginx's total) are printed as TAP comments; each daemon
# logged each outage once (not per request), and its queued writes drained
# ("work again"); the three stop cleanly. No timing is asserted.
#
# usage: redis_fleet.sh MXTLSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: redis_fleet.sh MXTLSD}
export TESTBED_SLOT=${TESTBED_SLOT:-56}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/mxtlsd_lib.sh"

if [ ! -x "$MXTLSD" ]; then echo "not ok - mxtlsd binary $MXTLSD is not built"; exit 1; fi
for tool in redis-server redis-sentinel redis-cli; do
    command -v "$tool" >/dev/null || {
        echo "not ok - $tool is installed (Debian: redis-server, redis-sentinel)"
        exit 1
    }
done

# ---------------------------------------------------------------- scenario
# One unsigned zone; every domain its own MX, _mta-sts record and policy
# host (the default enforce policy: mx: mx.<domain>, max_age 86400).
CACHED=(c01 c02 c03 c04 c05 c06) # cached before the failover
NEW=(n01 n02 n03 n04 n05 n06 n07 n08 n09 n10 n11 n12) # announced during it
scn=$(mktemp /tmp/mxtls-redis-fleet-XXXXXX.scn)
{
    echo "# redis_fleet.scn - written by tests/integration/redis_fleet.sh"
    echo "zone fleet.test insecure"
    for d in one two fail after down "${CACHED[@]}" "${NEW[@]}"; do
        echo "mx $d.fleet.test 10 mx.$d.fleet.test"
        echo "txt _mta-sts.$d.fleet.test \"v=STSv1; id=${d}20261202\""
        if [ "$d" = fail ]; then
            echo "sts $d.fleet.test status=404" # RFC 8461 §3.3: a failed fetch
        else
            echo "sts $d.fleet.test"
        fi
    done
} >"$scn"
mx_setup "$scn"
mv "$scn" "$MX_TMP/redis_fleet.scn"

access=$TESTBED_DIR/log/nginx-access.log
# fetches: policy fetches nginx has answered so far (every domain, any status)
fetches() { grep -c 'GET /.well-known/mta-sts.txt' "$access" 2>/dev/null || true; }
# want DOMAIN: the answer an enforce policy with one MX gives
want() { echo "secure match=mx.$1 servername=hostname"; }

# ---------------------------------------------------------------- teardown
# The load loops (bash subshells of this script) and the background
# queries are stopped first, then mx_teardown stops every recorded server
# (redis, sentinels, mxtlsd are all in MX_PIDS) and the testbed.
LOAD_PIDS=()
STOP=$MX_TMP/load.stop
fleet_teardown() {
    local rc=$? pid i
    : >"$STOP"
    for pid in "${LOAD_PIDS[@]}"; do
        # a loop ends after its current query; at most a query's limit
        for ((i = 0; i < (MX_QUERY_LIMIT + 5) * 10; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    LOAD_PIDS=()
    # mx_teardown takes the status from $?; errexit must not end the trap
    # at the subshell that sets it
    set +e
    (exit "$rc")
    mx_teardown
}
trap fleet_teardown EXIT

# ---------------------------------------------------------------- ports
p_d1=$(free_port)
p_d2=$(free_port $((p_d1 + 1)))
p_d3=$(free_port $((p_d2 + 1)))
p_m=$(free_port $((p_d3 + 1)))
p_r=$(free_port $((p_m + 1)))
p_s1=$(free_port $((p_r + 1)))
p_s2=$(free_port $((p_s1 + 1)))
p_s3=$(free_port $((p_s2 + 1)))
PORT=([1]="$p_d1" [2]="$p_d2" [3]="$p_d3")

# rcli PORT ARGS...: redis-cli against 127.0.0.1:PORT, bounded
rcli() {
    local p=$1
    shift
    timeout -k 2 5 redis-cli -h 127.0.0.1 -p "$p" --raw "$@" 2>/dev/null
}

# wait_for SECONDS CMD...: until CMD succeeds, polling every 0.1 s
wait_for() {
    local s=$1 i
    shift
    for ((i = 0; i < s * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# has_key PORT KEY: KEY exists on the redis at PORT
has_key() { [ "$(rcli "$1" EXISTS "$2")" = 1 ]; }

# show_key PORT KEY: a TAP comment with KEY's type, TTL and value
show_key() {
    local t v
    t=$(rcli "$1" TYPE "$2")
    case $t in
    hash) v=$(rcli "$1" HGETALL "$2" | paste -sd' ' -) ;;
    string) v=$(rcli "$1" GET "$2") ;;
    *) v="" ;;
    esac
    printf '# %s (%s, TTL %s s): %s\n' "$2" "$t" "$(rcli "$1" TTL "$2")" "$(printf '%s' "$v" | tr '\n' ' ' | cut -c1-400)"
}

# redis_start LABEL PORT [LINE...]: redis-server (or, with LABEL
# sentinel-*, redis-sentinel) on 127.0.0.1:PORT from a configuration file
# in MX_TMP; set-proc-title no keeps that path in its command line, so
# stop_pid knows the process as ours.
redis_start() {
    local label=$1 port=$2 conf=$MX_TMP/$1.conf prog=redis-server l i
    shift 2
    [ "${label#sentinel}" != "$label" ] && prog=redis-sentinel
    if port_busy "$port"; then not_ok "$label: port $port is free"; exit 1; fi
    {
        echo "bind 127.0.0.1"
        echo "port $port"
        echo "dir $MX_TMP"
        echo "logfile $MX_TMP/$label.log"
        echo "daemonize no"
        echo "set-proc-title no"
        if [ "$prog" = redis-server ]; then
            echo "save \"\""
            echo "appendonly no"
            echo "dbfilename $label.rdb"
            echo "protected-mode no"
        fi
        for l in "$@"; do echo "$l"; done
    } >"$conf"
    "$prog" "$conf" </dev/null >>"$MX_TMP/$label.out.log" 2>&1 &
    MX_LAST_PID=$!
    MX_PIDS+=("$MX_LAST_PID")
    for ((i = 0; i < 100; i++)); do
        alive "$MX_LAST_PID" || break
        if [ "$(rcli "$port" PING)" = PONG ]; then
            ok "$label ($prog, pid $MX_LAST_PID) answers on 127.0.0.1:$port"
            return 0
        fi
        sleep 0.1
    done
    not_ok "$label ($prog) answers on 127.0.0.1:$port"
    tail -n 20 "$MX_TMP/$label.log" "$MX_TMP/$label.out.log" 2>/dev/null | sed 's/^/  # /'
    exit 1
}

# master_port SENTINELPORT: the port of the master that sentinel names
master_port() { rcli "$1" SENTINEL get-master-addr-by-name mymaster | sed -n 2p; }

# sentinels_ready: every sentinel knows the replica and the two others
sentinels_ready() {
    local s info
    for s in "$p_s1" "$p_s2" "$p_s3"; do
        info=$(rcli "$s" SENTINEL master mymaster | paste -sd' ' -)
        [[ " $info " == *" num-slaves 1 "* ]] || return 1
        [[ " $info " == *" num-other-sentinels 2 "* ]] || return 1
        [[ " $info " == *" flags master "* ]] || return 1
    done
}

# replica_up: the replica's link to the master is up
replica_up() { rcli "$p_r" INFO replication | grep -q '^master_link_status:up'; }

# ---------------------------------------------------------------- redis
redis_start redis-master "$p_m"
pid_m=$MX_LAST_PID
redis_start redis-replica "$p_r" "replicaof 127.0.0.1 $p_m"
pid_r=$MX_LAST_PID
if wait_for 20 replica_up; then ok "the replica follows the master"; else
    not_ok "the replica follows the master"
    exit 1
fi
for i in 1 2 3; do
    sp=p_s$i
    redis_start "sentinel-$i" "${!sp}" \
        "sentinel monitor mymaster 127.0.0.1 $p_m 2" \
        "sentinel down-after-milliseconds mymaster 1000" \
        "sentinel failover-timeout mymaster 3000" \
        "sentinel parallel-syncs mymaster 1"
done
# sentinels find the replica (the master's INFO) and each other (hello
# messages every 2 s): only then can two agree and one fail over
if wait_for 30 sentinels_ready; then
    ok "the three sentinels know the master, the replica and each other"
else
    not_ok "the three sentinels know the master, the replica and each other"
    for s in "$p_s1" "$p_s2" "$p_s3"; do
        rcli "$s" SENTINEL master mymaster | paste -sd' ' - | sed 's/^/  # /'
    done
    exit 1
fi

# ---------------------------------------------------------------- mxtlsd x 3
# fleet_config FILE PORT: mx_config's configuration with its cache section
# replaced by the Sentinel-found Redis (postfix-mta-sts-resolver 1.4's
# redis_sentinel options)
fleet_config() {
    mx_config "$1" "$2" "$MX_TMP/unused.db"
    awk '/^cache:/ { skip = 1; next } skip && /^[^ ]/ { skip = 0 } !skip' "$1" >"$1.new"
    {
        echo "cache:"
        echo "  type: redis_sentinel"
        echo "  options:"
        echo "    sentinels: [[127.0.0.1, $p_s1], [127.0.0.1, $p_s2], [127.0.0.1, $p_s3]]"
        echo "    sentinel_master_name: mymaster"
    } >>"$1.new"
    mv -f "$1.new" "$1"
}
PID=()
for i in 1 2 3; do
    fleet_config "$MX_TMP/d$i.yml" "${PORT[$i]}"
    mx_start "d$i" "$MX_TMP/d$i.yml"
    PID[i]=$MX_LAST_PID
done

# log_has N TEXT: daemon N's log has a line with TEXT (fixed string)
log_has() { grep -qF -- "$2" "$MX_TMP/d$1.log"; }
# fetched_by N DOMAIN: daemon N's fetches of DOMAIN's policy (done or failed)
fetched_by() {
    grep -cE -- ": ${2//./\\.}: MTA-STS policy (id [^ ]+ fetched:|fetch failed:)" \
        "$MX_TMP/d$1.log" 2>/dev/null || true
}
# fleet_fetches DOMAIN: the fleet's fetches of DOMAIN (every daemon's log)
fleet_fetches() {
    local n=0 i c
    for i in 1 2 3; do
        c=$(fetched_by "$i" "$1")
        n=$((n + ${c:-0}))
    done
    echo "$n"
}

# ---------------------------------------------------------------- 1: one fetch serves the fleet
D=one.fleet.test
f0=$(fetches)
got=$(q postfix "$D" "$p_d1")
expect_reply "1: daemon 1 answers $D secure" "$got" "$(want $D)"
if wait_for 10 has_key "$p_m" "mxtls:v1:policy:$D"; then
    ok "1: daemon 1 wrote $D's policy to Redis (mxtls:v1:policy:$D)"
else
    not_ok "1: daemon 1 wrote $D's policy to Redis (mxtls:v1:policy:$D)"
fi
show_key "$p_m" "mxtls:v1:policy:$D"
ttl=$(rcli "$p_m" TTL "mxtls:v1:policy:$D")
if [ -n "$ttl" ] && [ "$ttl" -gt 0 ] && [ "$ttl" -le 86400 ]; then
    ok "1: the key expires within the policy's max_age (TTL $ttl s <= 86400)"
else
    not_ok "1: the key expires within the policy's max_age (TTL '$ttl', want 1..86400)"
fi
for i in 2 3; do
    got=$(q postfix "$D" "${PORT[$i]}")
    expect_reply "1: daemon $i answers $D with daemon 1's policy" "$got" "$(want $D)"
done
check "1: nginx served $D's policy once to the fleet" "$(($(fetches) - f0))" 1
if log_has 2 "$D: MTA-STS policy id one20261202 read from the cache store"; then
    ok "1: daemon 2's log says it read the policy from the cache store"
else
    not_ok "1: daemon 2's log says it read the policy from the cache store"
    grep -F "$D" "$MX_TMP/d2.log" | tail -n 5 | sed 's/^/  # /'
fi

# ---------------------------------------------------------------- 2: simultaneous first queries
D=two.fleet.test
f0=$(fetches)
qp=()
for i in 1 2 3; do
    q postfix "$D" "${PORT[$i]}" >"$MX_TMP/two.$i" &
    qp+=($!)
done
for p in "${qp[@]}"; do wait "$p" || true; done
for i in 1 2 3; do
    expect_reply "2: daemon $i answers $D secure (asked at the same time)" \
        "$(cat "$MX_TMP/two.$i")" "$(want $D)"
done
check "2: nginx served $D's policy once to the three (the claim)" "$(($(fetches) - f0))" 1
check "2: one daemon's log says it fetched $D" "$(fleet_fetches $D)" 1
show_key "$p_m" "mxtls:v1:claim:$D"
ttl=$(rcli "$p_m" TTL "mxtls:v1:claim:$D")
if [ "$ttl" != -1 ]; then
    ok "2: the claim on $D expires (TTL $ttl; -2: already gone)"
else
    not_ok "2: the claim on $D expires (TTL -1: it never would)"
fi

# ---------------------------------------------------------------- 3: back-off shared
D=fail.fleet.test
f0=$(fetches)
got1=$(q postfix "$D" "$p_d1")
echo "# daemon 1 answers $D (its policy host answers 404): $got1"
check "3: daemon 1 tried to fetch $D's policy once" "$(($(fetches) - f0))" 1
if grep -q '"GET /.well-known/mta-sts.txt HTTP/[0-9.]*" 404 ' "$access"; then
    ok "3: nginx answered that fetch 404"
else
    not_ok "3: nginx answered that fetch 404"
fi
if wait_for 10 has_key "$p_m" "mxtls:v1:failed:$D"; then
    ok "3: daemon 1 told the fleet (mxtls:v1:failed:$D)"
else
    not_ok "3: daemon 1 told the fleet (mxtls:v1:failed:$D)"
fi
show_key "$p_m" "mxtls:v1:failed:$D"
for i in 2 3; do
    got=$(q postfix "$D" "${PORT[$i]}")
    expect_reply "3: daemon $i answers $D as daemon 1 did" "$got" "$got1"
done
check "3: one fetch attempt of $D in all (2 and 3 backed off with 1)" "$(($(fetches) - f0))" 1
for i in 2 3; do
    check "3: daemon $i's log shows no fetch of $D" "$(fetched_by "$i" "$D")" 0
done

# ---------------------------------------------------------------- 4: failover under load
# The cached domains: fetched once by daemon 1, in every daemon's memory,
# and on the replica before the master dies (Redis replicates
# asynchronously: an unreplicated write would be lost with the master, which
# is Redis's contract, not what this test is about).
for d in "${CACHED[@]}"; do
    D=$d.fleet.test
    for i in 1 2 3; do
        got=$(q postfix "$D" "${PORT[$i]}")
        if ! same_reply "$got" "$(want "$D")"; then
            not_ok "4: daemon $i answers $D secure before the failover"
            echo "  # got: '$got'"
        fi
        [ "$i" = 1 ] && { wait_for 10 has_key "$p_r" "mxtls:v1:policy:$D" || true; }
    done
done
ok "4: the ${#CACHED[@]} cached domains answered secure by the three daemons"
missing=0
for d in "${CACHED[@]}"; do has_key "$p_r" "mxtls:v1:policy:$d.fleet.test" || missing=$((missing + 1)); done
check "4: every cached policy is on the replica before the master dies" "$missing" 0

T0=$EPOCHREALTIME
NEWDOM=$MX_TMP/newdom # the new domain the loops ask now ("" none)
: >"$NEWDOM"
rm -f "$STOP"
# load N: ask daemon N every cached domain in turn, and the announced new
# domain once per turn; every answer with its start and end time
load() {
    local n=$1 port=${PORT[$1]} d a t s lf=$MX_TMP/load.$1
    while [ ! -e "$STOP" ]; do
        for d in "${CACHED[@]}" new; do
            if [ "$d" = new ]; then
                d=$(cat "$NEWDOM")
                [ -n "$d" ] || continue
            fi
            s=$EPOCHREALTIME
            a=$(q postfix "$d.fleet.test" "$port")
            t=$EPOCHREALTIME
            printf '%s\t%s\t%s\t%s\t%s\n' "$s" "$t" "$n" "$d" "$a" >>"$lf"
            [ -e "$STOP" ] && break
            sleep 0.05
        done
    done
}
for i in 1 2 3; do
    : >"$MX_TMP/load.$i"
    load "$i" &
    LOAD_PIDS+=($!)
done
EVENTS=$MX_TMP/events
: >"$EVENTS"
event() { printf '%s\t%s\n' "$EPOCHREALTIME" "$*" >>"$EVENTS"; }
announce() {
    echo "$1" >"$NEWDOM"
    event "new domain $1.fleet.test announced to the load"
}
sleep 1.5
announce n01
sleep 1.5
kill -KILL "$pid_m"
event "SIGKILL to the master (pid $pid_m, 127.0.0.1:$p_m)"
wait "$pid_m" 2>/dev/null || true
promoted=0
k=1
for ((j = 0; j < 300; j++)); do
    # a new domain every second while the fleet has no master
    if ((j % 10 == 0)) && [ "$k" -lt "${#NEW[@]}" ]; then
        announce "${NEW[$k]}"
        k=$((k + 1))
    fi
    if [ "$(master_port "$p_s1")" = "$p_r" ] && [ "$(master_port "$p_s2")" = "$p_r" ] &&
        [ "$(master_port "$p_s3")" = "$p_r" ] && rcli "$p_r" ROLE | head -n 1 | grep -qx master; then
        promoted=1
        event "the sentinels name the replica (127.0.0.1:$p_r) master, and it says so"
        break
    fi
    sleep 0.1
done
if [ "$promoted" = 1 ]; then
    ok "4: the sentinels promoted the replica (127.0.0.1:$p_r)"
else
    not_ok "4: the sentinels promoted the replica (127.0.0.1:$p_r) within 30 s"
    for s in "$p_s1" "$p_s2" "$p_s3"; do echo "  # sentinel $s: $(master_port "$s")"; done
fi
# two more new domains after the promotion, under the same load (the one
# announced last is asked a pass first: a pass is ~0.5 s)
sleep 1
for ((j = 0; j < 2; j++)); do
    [ "$k" -lt "${#NEW[@]}" ] && { announce "${NEW[$k]}"; k=$((k + 1)); }
    sleep 1.5
done
: >"$STOP"
event "load stopped"
for p in "${LOAD_PIDS[@]}"; do wait "$p" || true; done
LOAD_PIDS=()

# The timeline: every answer (end time, relative to the load's start) and
# the events, in time order
# The timeline, in time order: the events, and every answer (t = when it
# came, from the start of the load; in parentheses how long it took). A
# daemon's run of cached domains each answered its secure policy is one
# line ("c01..c06 each secure"); any other answer is a line of its own.
echo "# failover timeline (t: seconds from the start of the load; every answer)"
{
    for i in 1 2 3; do
        awk -F'\t' -v OFS='\t' -v cached=" ${CACHED[*]} " '
            function flush() {
                if (n == 0) return
                print last, sprintf("daemon %s %s..%s.fleet.test each its secure policy (%d answers since t=%s, max %.0f ms)",
                    dn, first, prev, n, "@" t1, mx * 1000)
                n = 0; mx = 0
            }
            {
                dn = $3
                cachedok = index(cached, " " $4 " ") && $5 == "secure match=mx." $4 ".fleet.test servername=hostname"
                if (cachedok) {
                    if (n == 0) { first = $4; t1 = $1 }
                    n++; prev = $4; last = $2
                    if ($2 - $1 > mx) mx = $2 - $1
                    next
                }
                flush()
                print $2, sprintf("daemon %s %s.fleet.test -> %s (%.0f ms)", dn, $4, $5, ($2 - $1) * 1000)
            }
            END { flush() }' "$MX_TMP/load.$i"
    done
    awk -F'\t' -v OFS='\t' '{ print $1, "*** " $2 }' "$EVENTS"
} | sort -t$'\t' -k1,1n | awk -F'\t' -v t0="$T0" '{
    line = $2
    if (match(line, /@[0-9.]+/)) {
        line = substr(line, 1, RSTART - 1) sprintf("%.3f", substr(line, RSTART + 1, RLENGTH - 1) - t0) \
            substr(line, RSTART + RLENGTH)
    }
    printf "# t=%7.3f %s\n", $1 - t0, line }'

total=0 weaker=0 lost=0 newbad=0
while IFS=$'\t' read -r _ _ n d a; do
    total=$((total + 1))
    case $a in ERROR*) lost=$((lost + 1)) ;; esac
    if ! same_reply "$a" "$(want "$d.fleet.test")"; then
        case " ${CACHED[*]} " in
        *" $d "*) weaker=$((weaker + 1)) ;;
        *) newbad=$((newbad + 1)) ;;
        esac
    fi
done < <(cat "$MX_TMP"/load.[123])
echo "# $total answers during the load"
if [ "$total" -gt 0 ]; then ok "4: the load got answers ($total)"; else not_ok "4: the load got answers"; fi
check "4: no query lost (no ERROR, no answer missing)" "$lost" 0
check "4: no cached domain answered other than its secure policy" "$weaker" 0
check "4: every new domain asked during the failover answered secure" "$newbad" 0

# after the promotion: a new domain, fetched once, served by another daemon
D=after.fleet.test
f0=$(fetches)
got=$(q postfix "$D" "$p_d2")
expect_reply "4: after the promotion, daemon 2 answers $D secure" "$got" "$(want $D)"
check "4: ... with one fetch" "$(($(fetches) - f0))" 1
if wait_for 15 has_key "$p_r" "mxtls:v1:policy:$D"; then
    ok "4: daemon 2 wrote $D to the new master (127.0.0.1:$p_r)"
else
    not_ok "4: daemon 2 wrote $D to the new master (127.0.0.1:$p_r)"
fi
f1=$(fetches)
got=$(q postfix "$D" "$p_d3")
expect_reply "4: daemon 3 answers $D with daemon 2's policy" "$got" "$(want $D)"
check "4: daemon 3 fetched nothing for $D" "$(($(fetches) - f1))" 0
if log_has 3 "$D: MTA-STS policy id after20261202 read from the cache store"; then
    ok "4: daemon 3's log says it read $D from the cache store (the new master)"
else
    not_ok "4: daemon 3's log says it read $D from the cache store (the new master)"
    grep -F "$D" "$MX_TMP/d3.log" | tail -n 5 | sed 's/^/  # /'
fi

# ---------------------------------------------------------------- 5: Redis stopped entirely
rc=0
stop_pid "$pid_r" || rc=$?
event "the new master (pid $pid_r) stopped: no Redis left"
echo "# redis-server pid $pid_r (the promoted replica) stopped, status $rc"
if port_busy "$p_r" || port_busy "$p_m"; then not_ok "5: no Redis answers"; else ok "5: no Redis answers"; fi
bad=0 n=0
for d in one two "${CACHED[@]}" after; do
    for i in 1 2 3; do
        [ "$d" = after ] && [ "$i" = 1 ] && continue # never asked of daemon 1
        got=$(q postfix "$d.fleet.test" "${PORT[$i]}")
        n=$((n + 1))
        if ! same_reply "$got" "$(want "$d.fleet.test")"; then
            bad=$((bad + 1))
            echo "  # daemon $i $d.fleet.test -> $got"
        fi
    done
done
check "5: Redis down: the $n cached answers go on from each daemon's memory" "$bad" 0

D=down.fleet.test
f0=$(fetches)
got=$(q postfix "$D" "$p_d1")
expect_reply "5: Redis down: daemon 1 answers a new domain ($D) secure" "$got" "$(want $D)"
check "5: ... fetching it itself (one fetch)" "$(($(fetches) - f0))" 1
sleep 1 # a write attempt or two fail meanwhile
# the master again, on the port the sentinels name (empty: no persistence)
redis_start redis-restarted "$p_r"
pid_r2=$MX_LAST_PID
event "redis-server started again on 127.0.0.1:$p_r (pid $pid_r2)"
if wait_for 60 has_key "$p_r" "mxtls:v1:policy:$D"; then
    ok "5: Redis back: daemon 1's write of $D caught up"
else
    not_ok "5: Redis back: daemon 1's write of $D caught up (within 60 s)"
    rcli "$p_r" KEYS 'mxtls:*' | sed 's/^/  # key: /'
fi
show_key "$p_r" "mxtls:v1:policy:$D"
f1=$(fetches)
got=$(q postfix "$D" "$p_d3")
expect_reply "5: daemon 3 answers $D with daemon 1's policy" "$got" "$(want $D)"
check "5: daemon 3 fetched nothing for $D (it read the caught-up write)" "$(($(fetches) - f1))" 0

# ---------------------------------------------------------------- counts, logs, stop
echo "# fetches per domain across the fleet (daemons' logs: fetched or failed)"
sum=0
for d in one two fail "${CACHED[@]}" "${NEW[@]:0:k}" after down; do
    line="" t=0
    for i in 1 2 3; do
        c=$(fetched_by "$i" "$d.fleet.test")
        c=${c:-0}
        t=$((t + c))
        line="$line d$i=$c"
    done
    sum=$((sum + t))
    printf '#   %-16s total %d (%s)\n' "$d.fleet.test" "$t" "${line# }"
done
echo "# fleet total $sum; nginx served $(fetches) policy requests in all"
check "the daemons' fetch counts add up to nginx's" "$sum" "$(fetches)"
echo "# redis-related log lines per daemon (state changes, not per request):"
for i in 1 2 3; do
    c=$(grep -ciE 'redis|sentinel|cache store' "$MX_TMP/d$i.log" || true)
    echo "#   d$i: $c lines"
    grep -iE 'redis|sentinel|cache store' "$MX_TMP/d$i.log" | grep -viE 'read from the cache store' |
        head -n 20 | sed 's/^/#     /'
done

# doc/redis.md: the log says it once per change of state, not per request;
# two outages here (the failover, the stop), each ended by the time we ask
# writes_drained N: daemon N's log has a "work again" for each "cannot write"
writes_drained() {
    local down up
    down=$(grep -c 'cache: cannot write to' "$MX_TMP/d$1.log" || true)
    up=$(grep -c 'cache: writes to .* work again' "$MX_TMP/d$1.log" || true)
    [ "${down:-0}" = "${up:-0}" ]
}
for i in 1 2 3; do
    down=$(grep -c 'cache: cannot write to' "$MX_TMP/d$i.log" || true)
    bad=$(grep -c 'cache: cannot read the cache store' "$MX_TMP/d$i.log" || true)
    if [ "${down:-0}" -le 2 ] && [ "${bad:-0}" -le 2 ]; then
        ok "d$i logged each outage once, not per request (${down:-0} 'cannot write', ${bad:-0} 'cannot read')"
    else
        not_ok "d$i logged each outage once, not per request (${down:-0} 'cannot write', ${bad:-0} 'cannot read'; 2 outages)"
    fi
    if wait_for 10 writes_drained "$i"; then
        ok "d$i's queued writes drained (a 'work again' line for each 'cannot write')"
    else
        not_ok "d$i's queued writes drained (a 'work again' line for each 'cannot write')"
    fi
done

for i in 3 2 1; do
    rc=0
    stop_pid "${PID[$i]}" || rc=$?
    check "mxtlsd d$i (pid ${PID[$i]}) stopped cleanly" "$rc" 0
done
done_testing

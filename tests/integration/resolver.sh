#!/bin/bash
# resolver.sh - mxtlsd's own resolver under a bad day (issue 17 items 1, 6).
#
# Brings up the testbed with scenarios/resolver_starve.scn (slot 20 unless
# TESTBED_SLOT says otherwise), binds a silent name server for drop.test on
# 127.53.<slot>.4:53 (UDP and TCP: reads every query, never answers; its PID
# is recorded and only it is stopped), and checks through the real Postfix
# client (postmap -q socketmap:...):
#
#   1. starvation: 50 clients ask for names under drop.test at once and
#      close; then a never-seen secure DANE domain must get "OK dane-only"
#      and a never-seen MTA-STS domain its "OK secure match=..." answer,
#      within the zone's normal 4 s timeout (mxtlsd answers TEMP past it).
#      Before the fix libunbound ran with its library defaults (16 UDP
#      ports, 2 TCP): both got TEMP for 20-95 s. The silent server must have
#      seen the queries (else the test proves nothing).
#   2. no usable trust anchor is a configuration error: resolver.
#      trust_anchor_file an empty string or an empty file, missing, or
#      without a DS/DNSKEY record, and
#      the default /usr/share/dns/root.key missing (a private mount
#      namespace hides it; the host's file is never touched): --check-config
#      and a real start both exit 78 with the reason.
#   3. a resolver that validates nothing (a syntactically fine anchor for a
#      zone it never reaches, so every test. answer comes back insecure):
#      answers are TEMP, not the insecure NOTFOUND / MTA-STS answers.
#   5. clients that go away (issue 17 item 1, last sentence): 50 clients ask
#      for names under drop.test in zone "slow" (timeout 30 s) and close
#      while the lookups are pending; mxtlsd must close all 50 connections
#      within 3 s, which cancels their lookups, and have none left to drain
#      at the SIGTERM right after. Before the fix it read nothing while a
#      lookup was pending: it held all 50 until libunbound gave up (about
#      8 s after the close), and the drain line said "50 connections".
#
# usage: resolver.sh MXTLSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: resolver.sh MXTLSD}
export TESTBED_SLOT=${TESTBED_SLOT:-20}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/mxtlsd_lib.sh"

if [ ! -x "$MXTLSD" ]; then
    echo "not ok - mxtlsd binary $MXTLSD is not built"
    exit 1
fi

drop_addr=127.53.$TESTBED_SLOT.4
scn=$(mktemp /tmp/mxtls-resolver-XXXXXX.scn)
sed "s/@DROP@/$drop_addr/" "$here/scenarios/resolver_starve.scn" >"$scn"
mx_setup "$scn"
rm -f "$scn"

# free_port START (mxtlsd_lib.sh): the first port from START nothing listens on
MX_PORT=$(free_port $((18415 + 10 * TESTBED_SLOT)))

# ---------------------------------------------------------------- the silent server
cat >"$MX_TMP/silent.py" <<'EOF'
# silent.py ADDR COUNTFILE - a name server that reads and never answers;
# COUNTFILE gets the number of UDP queries and TCP connections, COUNTFILE.tags
# one line "TAG N" per question name's first label without its digits
import os, select, socket, sys
addr, countfile = sys.argv[1], sys.argv[2]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
u.bind((addr, 53))
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((addr, 53))
t.listen(256)
n = 0
conns = []
tags = {}
def note():
    with open(countfile + ".new", "w") as f:
        f.write("%d\n" % n)
    os.replace(countfile + ".new", countfile)
    with open(countfile + ".tags.new", "w") as f:
        for t, c in sorted(tags.items()):
            f.write("%s %d\n" % (t, c))
    os.replace(countfile + ".tags.new", countfile + ".tags")
def tag(msg):
    # the first label of the question name (RFC 1035 §4.1.2), digits stripped
    if len(msg) < 13 or msg[12] == 0 or msg[12] >= 64:
        return
    label = msg[13:13 + msg[12]].decode("ascii", "replace").lower()
    t = label.rstrip("0123456789")
    tags[t] = tags.get(t, 0) + 1
note()
while True:
    r, _, _ = select.select([u, t] + conns, [], [])
    for s in r:
        if s is u:
            msg, _ = u.recvfrom(65535)
            n += 1
            tag(msg)
            note()
        elif s is t:
            c, _ = t.accept()
            conns.append(c)
            n += 1
            note()
        else:
            try:
                data = s.recv(65535)
            except OSError:
                data = b""
            if not data:
                conns.remove(s)
                s.close()
            else:
                tag(data[2:])  # RFC 1035 §4.2.2: a two-octet length first
                note()
EOF
python3 "$MX_TMP/silent.py" "$drop_addr" "$MX_TMP/silent.count" </dev/null \
    >"$MX_TMP/silent.log" 2>&1 &
MX_PIDS+=("$!")
silent_pid=$!
for ((i = 0; i < 50; i++)); do [ -s "$MX_TMP/silent.count" ] && break; sleep 0.1; done
if [ -s "$MX_TMP/silent.count" ] && alive "$silent_pid"; then
    ok "silent name server for drop.test on $drop_addr:53 (pid $silent_pid)"
else
    not_ok "silent name server for drop.test on $drop_addr:53"
    exit 1
fi

# ---------------------------------------------------------------- 1. starvation
cfg=$MX_TMP/mxtlsd.yml
# zone "slow": lookups under drop.test stay pending for 30 s (section 5)
mx_config "$cfg" "$MX_PORT" "$MX_TMP/cache.db" "  slow:" "    timeout: 30"
mx_start mxtlsd "$cfg"

# flood PORT N: N clients ask for names under drop.test at once, then all
# close without waiting for the answers
cat >"$MX_TMP/flood.py" <<'EOF'
import socket, sys, time
port, n, tag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = "postfix %s%d.drop.test" % (tag, i)
    s.sendall(b"%d:%s," % (len(key), key.encode()))
    socks.append(s)
time.sleep(0.5)
for s in socks:
    s.close()
EOF
if python3 "$MX_TMP/flood.py" "$MX_PORT" 50 a; then
    ok "50 clients asked for names under drop.test at once and closed"
else
    not_ok "50 clients asked for names under drop.test at once and closed"
fi
got=$(q postfix sec.test)
expect_reply "after the flood: a secure DANE domain still gets its answer (RFC 7672 §2.2; issue 17 item 1)" \
    "$got" "dane-only"
got=$(q postfix sts.test)
expect_reply "after the flood: an MTA-STS domain still gets its policy (RFC 8461 §4; issue 17 item 1)" \
    "$got" "secure match=mx.sts.test servername=hostname"
seen=$(cat "$MX_TMP/silent.count")
if [ "$seen" -ge 50 ]; then
    ok "the silent server received the flood's queries ($seen)"
else
    not_ok "the silent server received the flood's queries (only $seen)"
fi
# A second flood while the first one's queries may still be retried.
python3 "$MX_TMP/flood.py" "$MX_PORT" 50 b || true
got=$(q postfix sec.test:587)
expect_reply "after a second flood: another secure next-hop is answered (no TLSA at 587: NOTFOUND)" \
    "$got" "NOTFOUND"
if alive "$MX_LAST_PID"; then ok "mxtlsd still running after the floods"; else not_ok "mxtlsd still running"; fi

# ---------------------------------------------------------------- 4. every MX host
# many.test: 100 hosts, all considered and listed (before: the first 64 of
# the rotated answer, so "dane-only" or "dane" by chance); too.test: past
# the cap, TEMP with the reason, every time.
got=$(q postfix many.test)
expect_reply "100 MX hosts, one without TLSA: every host considered (issue 17 item 10)" "$got" "dane"
json=$(postmap -c "$MX_PFDIR" -q "postfix many.test" \
    "socketmap:inet:127.0.0.1:$MX_PORT:mxtls-explain" 2>&1 || true)
n=$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])["mx"]["hosts"]))' "$json" 2>/dev/null || echo "?")
check "explain lists all 100 MX hosts of many.test" "$n" "100"
first=$(python3 -c 'import json,sys; h=json.loads(sys.argv[1])["mx"]["hosts"]; print(h[0]["name"], h[-1]["name"])' "$json" 2>/dev/null || echo "?")
check "hosts in (preference, name) order, not the answer's rotation" "$first" "mx001.many.test mx100.many.test"
for i in 1 2; do
    got=$(q postfix too.test)
    expect_reply "300 MX hosts (over 256): TEMP, asked the ${i}. time (fail closed, issue 17 item 10)" "$got" "TEMP"
done
json=$(postmap -c "$MX_PFDIR" -q "postfix too.test" \
    "socketmap:inet:127.0.0.1:$MX_PORT:mxtls-explain" 2>&1 || true)
bad=$(jcheck "$json" "mx.dnssec=failed; mx.error~300 MX hosts: more than 256")
if [ -z "$bad" ]; then ok "explain too.test: mx.error says 300 MX hosts, more than 256"; else
    not_ok "explain too.test: mx.error says 300 MX hosts, more than 256"
    echo "  # $bad"
fi

# ---------------------------------------------------------------- 5. clients that go away
# goaway.py PORT N TAG ZONE TAGS: N clients ask ZONE for TAG<i>.drop.test;
# after 1 s prints "open K" (mxtlsd's connections on PORT: the server side,
# local port PORT, ESTABLISHED or CLOSE_WAIT in /proc/net/tcp), closes them
# all, waits up to 3 s for K to reach 0 and prints "left K after S s", then
# "queries Q" (the silent server's count for TAG, from the file TAGS).
cat >"$MX_TMP/goaway.py" <<'EOF'
import socket, sys, time
port, n, tag, zone, tags = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def server_side():
    k = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] in ("01", "08"):
                k += 1
    return k
def queries():
    with open(tags) as f:
        for line in f:
            t, c = line.split()
            if t == tag:
                return int(c)
    return 0
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = "%s %s%d.drop.test" % (zone, tag, i)
    s.sendall(b"%d:%s," % (len(key), key.encode()))
    socks.append(s)
time.sleep(1)
print("open", server_side(), flush=True)
for s in socks:
    s.close()
t0 = time.monotonic()
while True:
    k = server_side()
    if k == 0 or time.monotonic() - t0 > 3:
        break
    time.sleep(0.05)
print("left %d after %.2f s" % (k, time.monotonic() - t0))
print("queries", queries())
EOF
# tagcount TAG: queries the silent server received for TAG<i>.drop.test
tagcount() {
    awk -v t="$1" '$1 == t { print $2; f = 1 } END { if (!f) print 0 }' \
        "$MX_TMP/silent.count.tags"
}
c0=$(tagcount c)
c_t0=$SECONDS
gone=$(python3 "$MX_TMP/goaway.py" "$MX_PORT" 50 c slow "$MX_TMP/silent.count.tags" 2>&1 || true)
open=$(awk '$1 == "open" { print $2 }' <<<"$gone")
left=$(awk '$1 == "left" { print $2 }' <<<"$gone")
check "50 clients of zone slow: 50 connections open, their lookups pending" "$open" "50"
if [ "$left" = 0 ]; then
    ok "the 50 clients closed: mxtlsd closed all 50 at once, cancelling the lookups ($(grep left <<<"$gone"))"
else
    not_ok "the 50 clients closed: mxtlsd closed all 50 at once (issue 17 item 1)"
    echo "  # ${gone//$'\n'/; }"
fi
# RESOLVER_FIGURE_WAIT=S (a measurement, not for the suite): print how many
# queries the silent server received for those names in the S seconds from
# the requests on, then stop mxtlsd.
if [ "${RESOLVER_FIGURE_WAIT:-0}" -gt 0 ]; then
    sleep $((RESOLVER_FIGURE_WAIT > SECONDS - c_t0 ? RESOLVER_FIGURE_WAIT - (SECONDS - c_t0) : 0))
    echo "# figure: queries for c<i>.drop.test in the ${RESOLVER_FIGURE_WAIT} s from the requests: $(($(tagcount c) - c0))"
fi
if alive "$MX_LAST_PID"; then ok "mxtlsd still running after the clients went away"; else
    not_ok "mxtlsd still running after the clients went away"
fi
stop_pid "$MX_LAST_PID" || true
line=$(grep -o "signal 15: stopping ([0-9]* connections" "$MX_TMP/mxtlsd.log" | tail -n 1 || true)
check "SIGTERM right after: no connection left to drain (before: 50)" "$line" \
    "signal 15: stopping (0 connections"

# ---------------------------------------------------------------- 2. no usable trust anchor
# ta_case WHAT TA_LINE REASON: --check-config and a start both exit 78 naming REASON
ta_case() {
    local what=$1 ta_line=$2 reason=$3 c=$MX_TMP/ta.yml rc=0 out
    mx_config "$c" "$(free_port $((MX_PORT + 1)))" "$MX_TMP/ta.db"
    # the line goes into the resolver: section (after unbound_config)
    sed -i "s|^  unbound_config: .*|&\n$ta_line|" "$c"
    out=$("$MXTLSD" --check-config -c "$c" 2>&1) || rc=$?
    if [ "$rc" -eq 78 ] && grep -q "$reason" <<<"$out"; then
        ok "--check-config, $what: exit 78, \"$reason\""
    else
        not_ok "--check-config, $what: exit 78, \"$reason\" (exit $rc)"
        echo "  # $out"
    fi
    rc=0
    out=$(timeout -k 5 20 "$MXTLSD" -c "$c" -l "$MX_TMP/ta.log" </dev/null 2>&1) || rc=$?
    # the reason goes to the log, or to stderr when the configuration file
    # itself refuses the value (io/config.c: an empty string)
    if [ "$rc" -eq 78 ] && cat "$MX_TMP/ta.log" 2>/dev/null | grep -q "$reason" ||
        { [ "$rc" -eq 78 ] && grep -q "$reason" <<<"$out"; }; then
        ok "mxtlsd, $what: refuses to start (exit 78) and says \"$reason\""
    else
        not_ok "mxtlsd, $what: refuses to start (exit 78) and says \"$reason\" (exit $rc)"
        echo "  # $out"
        { cat "$MX_TMP/ta.log" 2>/dev/null || true; } | tail -n 3 | sed 's/^/  # /'
    fi
    rm -f "$MX_TMP/ta.log"
}
ta_case "trust_anchor_file empty" '  trust_anchor_file: ""' "empty"
: >"$MX_TMP/empty.key"
ta_case "trust_anchor_file an empty file" "  trust_anchor_file: $MX_TMP/empty.key" \
    "no DS or DNSKEY record"
ta_case "trust_anchor_file missing" "  trust_anchor_file: $MX_TMP/nonexistent.key" \
    "No such file or directory"
printf '; no anchor here\n. IN NS a.root-servers.net.\n' >"$MX_TMP/nods.key"
ta_case "trust_anchor_file without DS/DNSKEY" "  trust_anchor_file: $MX_TMP/nods.key" \
    "no DS or DNSKEY record"
# The default root key hidden by an empty tmpfs, in a private mount namespace.
mx_config "$MX_TMP/default.yml" "$(free_port $((MX_PORT + 1)))" "$MX_TMP/ta.db"
rc=0
out=$(unshare -m sh -c 'mount -t tmpfs none /usr/share/dns && exec "$0" --check-config -c "$1"' \
    "$MXTLSD" "$MX_TMP/default.yml" 2>&1) || rc=$?
if [ "$rc" -eq 78 ] && grep -q "/usr/share/dns/root.key" <<<"$out"; then
    ok "--check-config without /usr/share/dns/root.key (the default anchor): exit 78, names it"
else
    not_ok "--check-config without /usr/share/dns/root.key: exit 78 (exit $rc)"
    echo "  # $out"
fi

# ---------------------------------------------------------------- 3. validating nothing
# A libunbound configuration without the testbed's anchor: test. and the
# root both go to the testbed's NSD (nothing leaves loopback); the only
# anchor is for example., which nothing here serves, so no answer validates.
cat >"$MX_TMP/novalidate.conf" <<EOF
server:
  local-zone: "test." nodefault
  do-not-query-localhost: no
  do-ip6: no
stub-zone:
  name: "test."
  stub-addr: $TESTBED_NSD_ADDR
stub-zone:
  name: "."
  stub-addr: $TESTBED_NSD_ADDR
EOF
printf 'example. IN DS 12345 13 2 %s\n' \
    "$(printf x | sha256sum | awk '{ print toupper($1) }')" >"$MX_TMP/example.key"
cfg=$MX_TMP/novalidate.yml
mx_config "$cfg" "$(free_port $((MX_PORT + 2)))" "$MX_TMP/novalidate.db"
sed -i "s|^  unbound_config: .*|  unbound_config: $MX_TMP/novalidate.conf\n  trust_anchor_file: $MX_TMP/example.key|" "$cfg"
mx_start novalidate "$cfg"
port=$(awk '$1 == "port:" { print $2 }' "$cfg")
got=$(q postfix sec.test "$port")
expect_reply "no anchor in effect: a DANE domain is TEMP, not the insecure NOTFOUND (issue 17 item 6)" \
    "$got" "TEMP"
got=$(q postfix sts.test "$port")
expect_reply "no anchor in effect: an MTA-STS domain is TEMP too (nothing validates)" "$got" "TEMP"
json=$(postmap -c "$MX_PFDIR" -q "postfix sec.test" \
    "socketmap:inet:127.0.0.1:$port:mxtls-explain" 2>&1 || true)
bad=$(jcheck "$json" "mx.dnssec=failed; mx.error~DNSSEC validation is not in effect")
if [ -z "$bad" ]; then
    ok "explain says why: mx.error names \"DNSSEC validation is not in effect\""
else
    not_ok "explain says why: mx.error names \"DNSSEC validation is not in effect\""
    echo "  # $bad"
fi
stop_pid "$MX_LAST_PID" || true

done_testing

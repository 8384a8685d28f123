#!/bin/bash
# compare.sh - mxtlsd beside the daemon it replaces (Debian's
# postfix-mta-sts-resolver, /usr/bin/mta-sts-daemon), on one testbed
# (scenarios/policy.scn, slot 3 unless TESTBED_SLOT says otherwise), asked
# every "#> ZONE KEY" case of the scenario through Postfix's `postmap -q`.
#
# Configuration: both read a copy of /etc/mta-sts-daemon.yml, left as it is
# except for what must change to run beside the testbed and the test:
#   - cache.options.filename -> a file in the scratch directory (the packaged
#     /var/lib/mta-sts/cache.db is not touched),
#   - host/port appended (127.0.0.1:18531 mxtlsd, :18532 mta-sts-daemon; the
#     packaged 127.0.0.1:8461 may be in use),
#   - zones appended: strict (strict_testing: true) and nosni
#     (require_sni: false), which the cases name; mxtlsd's copy also has
#     nodane (dane: false), an mxtls key (mta-sts-daemon answers that map name
#     with default_zone, which is what dane: false means for it),
#   - mxtlsd's copy only: resolver.unbound_config and https.ca_file, the
#     testbed's resolver and CA. mta-sts-daemon gets them the way it gets
#     them on a real host, from /etc/resolv.conf and the system CA bundle,
#     here bind-mounted by tests/testbed/run --ca (a private mount namespace).
# Everything else (cache_grace 60 s, timeout 4 s, ...) is the packaged default.
#
# Every answer must be equal (match= lists as sets) except the listed,
# explained differences below; an unlisted difference fails, and so does a
# listed one that disappears or changes. Prints a table: key, mxtlsd, peer.
#
# usage: compare.sh MXTLSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: compare.sh MXTLSD}
export TESTBED_SLOT=${TESTBED_SLOT:-3}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/mxtlsd_lib.sh"
scn=$here/scenarios/policy.scn
upstream_cfg=${UPSTREAM_CONFIG:-/etc/mta-sts-daemon.yml}
mx_port=$((18501 + 10 * TESTBED_SLOT))
peer_port=$((mx_port + 1))

if [ ! -x "$MXTLSD" ]; then
    echo "not ok - mxtlsd binary $MXTLSD is not built"
    exit 1
fi
if [ ! -r "$upstream_cfg" ]; then
    echo "not ok - $upstream_cfg (package postfix-mta-sts-resolver) is readable"
    exit 1
fi

# Known differences: "ZONE KEY|mxtlsd answer|mta-sts-daemon answer|why mxtlsd is right"
# ("ERROR*": postmap reports a lookup error, whatever its exact text).
known=(
    "postfix longid.sts.test|NOTFOUND|secure match=mx.longid.sts.test servername=hostname|RFC 8461 §3.1: sts-id = 1*32(ALPHA / DIGIT): a 33-character id makes the record invalid, so no policy (upstream never checks the id)"
    "postfix badid.sts.test|NOTFOUND|secure match=mx.badid.sts.test servername=hostname|RFC 8461 §3.1: sts-id is letters and digits only; \"2024-06-01\" is invalid, so no policy (upstream never checks the id)"
    "postfix blank.sts.test|NOTFOUND|secure match=mx.blank.sts.test servername=hostname|RFC 8461 §3.2 ABNF: the policy is sts-policy-fields separated by line ends; an empty line is not one (upstream skips lines it cannot read)"
    "postfix garbage.sts.test|NOTFOUND|secure match=mx.garbage.sts.test servername=hostname|RFC 8461 §3.2 ABNF: a line without \"name:\" is no sts-policy-field (upstream keys it as a field with an empty value and ignores it)"
    "postfix starmx.sts.test|NOTFOUND|secure match= servername=hostname|RFC 8461 §3.2: sts-policy-mx-value = [\"*.\"] Domain, so \"mx: *\" makes the policy invalid (upstream strips the \"*\" and answers an empty match list)"
    "postfix nullmx.sts.test|NOTFOUND|secure match=mx.nullmx.sts.test servername=hostname|RFC 7505 §3: a null MX domain receives no mail; DESIGN rule 1 (upstream never looks at the MX RRset)"
    "postfix mail.bogus.test|TEMP|NOTFOUND|DESIGN rule 1, RFC 7672 §2.1.1: a bogus MX answer is indeterminate and must defer, not downgrade (upstream: SERVFAIL on the TXT lookup, treated as no policy)"
    "postfix mail.lame.test|TEMP|NOTFOUND|DESIGN rule 1, RFC 7672 §2.1.1: a failed MX lookup defers (upstream: SERVFAIL on the TXT lookup, treated as no policy)"
    "postfix enforce..sts.test|NOTFOUND|ERROR*|DESIGN: invalid names get NOTFOUND, never a crash (RFC 1035 §3.1: no empty label); upstream's is_ipaddr() raises UnicodeError from the idna codec and drops the connection, so Postfix sees a lookup error"
    "postfix aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sts.test|NOTFOUND|ERROR*|DESIGN: invalid names get NOTFOUND, never a crash (RFC 1035 §2.3.4: a 64-octet label); upstream drops the connection (idna UnicodeError)"
    "postfix dane.test|dane-only|secure match=mx.dane.test servername=hostname|RFC 8461 §2: MTA-STS must not override DANE; DESIGN rule 3 (upstream has no DANE)"
)

mx_setup "$scn"

grep -Eq '^(host|port|path|zones):' "$upstream_cfg" &&
    { not_ok "$upstream_cfg has no active host/port/path/zones (compare.sh appends them)"; exit 1; }
grep -Eq '^ *filename:' "$upstream_cfg" ||
    { not_ok "$upstream_cfg sets cache.options.filename (compare.sh replaces it)"; exit 1; }

# write_cfg FILE PORT DB [LINE...]: the packaged file, cache filename
# replaced, host/port and zones appended, then LINEs
write_cfg() {
    local file=$1 port=$2 db=$3 l
    shift 3
    {
        sed -E "s|^( *filename:).*|\\1 \"$db\"|" "$upstream_cfg"
        echo "# appended by tests/integration/compare.sh"
        echo "host: 127.0.0.1"
        echo "port: $port"
        echo "zones:"
        echo "  strict:"
        echo "    strict_testing: true"
        echo "  nosni:"
        echo "    require_sni: false"
        for l in "$@"; do echo "$l"; done
    } >"$file"
}
write_cfg "$MX_TMP/peer.yml" "$peer_port" "$MX_TMP/peer-cache.db"
write_cfg "$MX_TMP/mxtlsd.yml" "$mx_port" "$MX_TMP/mxtlsd-cache.db" \
    "  nodane:" "    dane: false" \
    "resolver:" "  unbound_config: $TESTBED_UNBOUND_CONF" \
    "https:" "  ca_file: $TESTBED_CA"
diff -u "$upstream_cfg" "$MX_TMP/peer.yml" | sed 's/^/# peer config: /' || true

mx_start mxtlsd "$MX_TMP/mxtlsd.yml"
peer_start mta-sts-daemon "$MX_TMP/peer.yml" "$peer_port"

table=$MX_TMP/table.txt
: >"$table"
declare -A seen=()
n=0
while IFS=$'\t' read -r zone key _want _why; do
    id="$zone $key"
    a=$(q "$zone" "$key" "$mx_port")
    b=$(q "$zone" "$key" "$peer_port")
    n=$((n + 1))
    printf '%s\t%s\t%s\n' "$id" "$a" "$b" >>"$table"
    listed=
    for k in "${known[@]}"; do
        IFS='|' read -r kid ka kb kwhy <<<"$k"
        if [ "$kid" = "$id" ]; then listed=1 && break; fi
    done
    seen[$id]=1
    if [ -z "$listed" ]; then
        if same_reply "$a" "$b"; then ok "same: $id -> $a"; else
            not_ok "same answer for $id (no listed difference)"
            echo "  # mxtlsd:         '$a'"
            echo "  # mta-sts-daemon: '$b'"
        fi
    elif same_reply "$a" "$b"; then
        not_ok "listed difference for $id is gone: both answer '$a' ($kwhy)"
    elif same_reply "$a" "$ka" && same_reply "$b" "$kb"; then
        ok "known difference: $id: mxtlsd '$a', mta-sts-daemon '$b' -- $kwhy"
    else
        not_ok "listed difference for $id changed"
        echo "  # mxtlsd:         '$a' (listed: '$ka')"
        echo "  # mta-sts-daemon: '$b' (listed: '$kb')"
    fi
done < <(scn_cases "$scn")
for k in "${known[@]}"; do
    kid=${k%%|*}
    [ -n "${seen[$kid]:-}" ] || not_ok "listed difference '$kid' names a case policy.scn does not have"
done
if [ "$n" -ge 50 ]; then ok "$n keys asked of both daemons"; else
    not_ok "policy.scn has the cases (read $n)"
fi

echo "# key | mxtlsd | mta-sts-daemon"
awk -F'\t' '{ k = $1; if (length(k) > 32) k = substr(k, 1, 29) "..."
    printf "# %-32s | %-66s | %s\n", k, $2, substr($3, 1, 100) }' "$table"

for pid in "${MX_PIDS[@]}"; do
    if stop_pid "$pid"; then rc=0; else rc=$?; fi
    if alive "$pid" || [ "$rc" -ne 0 ]; then
        not_ok "pid $pid stops on SIGTERM with status 0 (status $rc)"
    else
        ok "pid $pid stopped on SIGTERM, status 0"
    fi
done
done_testing

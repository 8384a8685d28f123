#!/bin/bash
# dane_compare.sh - mxtlsd beside the daemon it replaces (Debian's
# postfix-mta-sts-resolver, /usr/bin/mta-sts-daemon) on the DANE cases of
# scenarios/dane.scn, on one testbed (slot 5 unless TESTBED_SLOT says
# otherwise; not at the same time as dane.sh, which uses the same slot).
#
# Both daemons are asked every "#> ZONE KEY" case through Postfix's
# `postmap -q`; the script prints a Markdown table: key, mxtlsd's answer,
# mta-sts-daemon's answer, and why mxtlsd's answer is the right one (the
# case's reason from dane.scn, and for a difference, what the peer misses).
# It asserts nothing about the peer: mta-sts-daemon has no DANE, never
# answers TEMP, and is shown here for the record (issue 5's note). It exits
# non-zero only when a daemon does not start or mxtlsd disagrees with
# dane.scn (dane.sh is the real test).
#
# Configuration: mxtlsd as in dane.sh (127.0.0.1:18465, zones nodane and
# fast); mta-sts-daemon on 127.0.0.1:18466 with the same host/port/cache
# style and zones (nodane is plain for it: it has no dane key; fast has
# timeout: 1), started under tests/testbed/run --ca so that glibc's resolver
# and the system CA bundle are the testbed's.
#
# usage: dane_compare.sh MXTLSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MXTLSD=${1:?usage: dane_compare.sh MXTLSD}
export TESTBED_SLOT=${TESTBED_SLOT:-5}
# shellcheck source=tests/integration/mxtlsd_lib.sh
. "$here/mxtlsd_lib.sh"
scn=$here/scenarios/dane.scn
mx_port=$((18415 + 10 * TESTBED_SLOT))
peer_port=$((mx_port + 1))

if [ ! -x "$MXTLSD" ]; then
    echo "not ok - mxtlsd binary $MXTLSD is not built"
    exit 1
fi

mx_setup "$scn"

common_yaml() { # PORT DB
    printf '%s\n' "host: 127.0.0.1" "port: $1" "shutdown_timeout: 2" "cache:" \
        "  type: sqlite" "  options:" "    filename: $2" "default_zone:" \
        "  strict_testing: false" "  timeout: 4"
}
{
    common_yaml "$mx_port" "$MX_TMP/mxtlsd-cache.db"
    printf '%s\n' "resolver:" "  unbound_config: $TESTBED_UNBOUND_CONF" "https:" \
        "  ca_file: $TESTBED_CA" "zones:" "  nodane:" "    dane: false" "  fast:" "    timeout: 1"
} >"$MX_TMP/mxtlsd.yml"
{
    common_yaml "$peer_port" "$MX_TMP/peer-cache.db"
    printf '%s\n' "zones:" "  nodane:" "    strict_testing: false" "  fast:" "    timeout: 1"
} >"$MX_TMP/peer.yml"

mx_start mxtlsd "$MX_TMP/mxtlsd.yml"
peer_start peer "$MX_TMP/peer.yml" "$peer_port"

# peer_miss MXTLSD PEER: what the peer gets wrong, by the kind of difference
peer_miss() {
    case $1 in
    dane-only)
        echo "RFC 8461 §2: MTA-STS must not override DANE (RFC 7672); the peer has no DANE, so it gives $([ "$2" = NOTFOUND ] && echo "no policy (opportunistic TLS, strippable)" || echo "the MTA-STS answer instead")"
        ;;
    dane) echo "RFC 7672 §2.2: a secure, non-empty TLSA RRset (even unusable records) means TLS is required; the peer has no DANE and gives no policy (opportunistic TLS, strippable)" ;;
    TEMP) echo "RFC 7672 §2.1.1: a bogus/failed lookup is indeterminate and must defer; the peer treats the DNS failure as \"no policy\" (NOTFOUND: plaintext allowed)" ;;
    NOTFOUND) echo "the peer applies MTA-STS where mxtlsd's rule (see why) says nothing applies" ;;
    *) echo "differs" ;;
    esac
}

rows=()
n_bad=0
while IFS=$'\t' read -r zone key want why; do
    mine=$(q "$zone" "$key" "$mx_port")
    theirs=$(q "$zone" "$key" "$peer_port")
    if ! same_reply "$mine" "$want"; then
        n_bad=$((n_bad + 1))
        why="**mxtlsd disagrees with dane.scn (want $want)** $why"
    fi
    if same_reply "$mine" "$theirs"; then
        note="same answer; $why"
    else
        note="$why. Peer: $(peer_miss "$mine" "$theirs")"
    fi
    rows+=("| \`$zone $key\` | \`$mine\` | \`$theirs\` | $note |")
done < <(scn_cases "$scn")

echo
echo "| key (map, next-hop) | mxtlsd | mta-sts-daemon | why mxtlsd is right |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
n_diff=$(printf '%s\n' "${rows[@]}" | grep -vc '| same answer;' || true)
echo "# ${#rows[@]} cases, $n_diff answered differently by mta-sts-daemon"
if [ "$n_bad" -gt 0 ]; then not_ok "mxtlsd answers as dane.scn says ($n_bad differ)"; else
    ok "mxtlsd answers as dane.scn says (${#rows[@]} cases)"
fi
done_testing

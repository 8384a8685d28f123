#!/bin/bash
# fetch.sh - io/fetch against real policy hosts: brings up the testbed with
# scenarios/fetch.scn, runs test_fetch (the path is the first argument) with
# the test CA, the attacker CA and the hosts' addresses, and tears the testbed
# down on exit. Slot 6 by default (TESTBED_SLOT overrides), so it does not
# collide with the testbed's own tests (slot 0).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tb="$here/../testbed"
exe=${1:?usage: fetch.sh TEST_FETCH}

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: the testbed needs root (port 443 on 127.0.0.0/8)"
    exit 77
fi

dir=$(mktemp -d /tmp/mxtls-fetch-XXXXXX)
teardown() {
    rc=$?
    trap - EXIT INT TERM
    if [ "$rc" -ne 0 ]; then
        for f in "$dir"/log/*; do
            [ -s "$f" ] && { echo "---- $f"; tail -n 20 "$f"; }
        done >&2
    fi
    if [ "${TESTBED_KEEP:-0}" = 1 ]; then
        "$tb/down" --keep "$dir" || rc=1
        echo "testbed kept in $dir" >&2
    else
        "$tb/down" "$dir" || rc=1
    fi
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

"$tb/up" "$here/scenarios/fetch.scn" --dir "$dir" --slot "${TESTBED_SLOT:-6}" --quiet
# shellcheck disable=SC1091
. "$dir/testbed.env"
"$exe" "$TESTBED_CA" "$TESTBED_ATTACKER_CA" "$TESTBED_HOSTS"

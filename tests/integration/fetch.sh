#!/bin/bash
# fetch.sh - io/fetch against real policy hosts: brings up the testbed with
# scenarios/fetch.scn, runs test_fetch (the path is the first argument) with
# the test CA, the attacker CA and the hosts' addresses, and tears the testbed
# down on exit. Slot 6 by default (TESTBED_SLOT overrides), so it does not
# collide with the testbed's own tests (slot 0).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exe=${1:?usage: fetch.sh TEST_FETCH}
export TESTBED_SLOT=${TESTBED_SLOT:-6}
# shellcheck source=/dev/null
. "$here/../testbed/lib.sh"
testbed_up "$here/scenarios/fetch.scn"
if "$exe" "$TESTBED_CA" "$TESTBED_ATTACKER_CA" "$TESTBED_HOSTS"; then ok "test_fetch"; else not_ok "test_fetch"; fi
done_testing

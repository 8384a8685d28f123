#!/bin/bash
# dns.sh - run test_dns (the io/dns adapter) against a testbed brought up from
# scenarios/dns.scn. Usage: dns.sh PATH/TO/test_dns
# Slot 4 (TESTBED_SLOT, read by testbed/up) keeps it off the testbed suite's
# slot 0; its fixed addresses are 127.99.x.y (see dns.scn).
set -euo pipefail
test_dns=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
export TESTBED_SLOT=${TESTBED_SLOT:-4}
# shellcheck source=/dev/null
. "$here/../testbed/lib.sh"
testbed_up "$here/scenarios/dns.scn"

echo "# testbed up in $TESTBED_DIR (slot $TESTBED_SLOT)"
if "$test_dns"; then ok "test_dns"; else not_ok "test_dns"; fi
done_testing

# lib.sh - shared by the testbed's test scripts (sourced, not run).
#
#   . "$(dirname "$0")/lib.sh"             # from any directory
#   testbed_up "$TB/scenarios/basic.scn"   # exports TESTBED_*, traps a tear-down;
#                                          # up reads TESTBED_SLOT (default 0)
#   expect "what it shows" COMMAND...      # the command must succeed
#   expect_fail "what it shows" COMMAND... # the command must fail
#
# On failure the testbed's logs are printed; the directory is removed unless
# TESTBED_KEEP=1 is set. The trap also runs on SIGINT/SIGTERM (meson timeout).
set -eu
# tests/testbed, from a script in tests/testbed or a sibling such as tests/integration
TB=$(cd "$(dirname "$0")/../testbed" && pwd)
TB_FAILS=0
TB_DIR=

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: the testbed needs root (ports 25, 53, 443; unshare -m)"
    exit 77
fi
for tool in nsd unbound unbound-checkconf unbound-control ldns-keygen ldns-signzone nginx \
    openssl dig curl unshare /usr/bin/python3; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "testbed: '$tool' not found; run 'make deps' (scripts/deps test)" >&2
        exit 1
    }
done

tb_teardown() {
    rc=$?
    trap - EXIT INT TERM
    [ "$TB_FAILS" -gt 0 ] && [ "$rc" -eq 0 ] && rc=1
    if [ -n "$TB_DIR" ] && [ -d "$TB_DIR" ]; then
        if [ "$rc" -ne 0 ]; then
            for f in "$TB_DIR"/log/*; do
                [ -s "$f" ] && { echo "---- $f"; tail -n 20 "$f"; }
            done >&2
        fi
        if [ "${TESTBED_KEEP:-0}" = 1 ]; then
            "$TB/down" --keep "$TB_DIR" || rc=1
            echo "testbed kept in $TB_DIR" >&2
        else
            "$TB/down" "$TB_DIR" || rc=1
        fi
    fi
    exit "$rc"
}

testbed_up() {
    TB_DIR=$(mktemp -d /tmp/mxtls-testbed-XXXXXX)
    trap tb_teardown EXIT
    trap 'exit 130' INT TERM
    "$TB/up" "$1" --dir "$TB_DIR" --quiet
    set -a
    . "$TB_DIR/testbed.env"
    set +a
}

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; TB_FAILS=$((TB_FAILS + 1)); }

# expect WHAT CMD...: CMD must exit 0
expect() {
    what=$1; shift
    if out=$("$@" 2>&1); then ok "$what"; else
        not_ok "$what"; printf '%s\n' "  command: $*" "$out" | sed 's/^/  # /' | head -n 30
    fi
}

# expect_fail WHAT CMD...: CMD must exit non-zero
expect_fail() {
    what=$1; shift
    if out=$("$@" 2>&1); then
        not_ok "$what"; printf '%s\n' "  command: $*" "$out" | sed 's/^/  # /' | head -n 30
    else ok "$what"; fi
}

# check WHAT GOT WANT: string equality
check() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; echo "  # got:  '$2'"; echo "  # want: '$3'"; fi
}

# has WHAT TEXT PATTERN: grep -E PATTERN in TEXT
has() {
    if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"; else
        not_ok "$1"; echo "  # no match for: $3"; printf '%s\n' "$2" | sed 's/^/  # /' | head -n 30
    fi
}

# hasnt WHAT TEXT PATTERN
hasnt() {
    if printf '%s\n' "$2" | grep -Eq -- "$3"; then
        not_ok "$1"; echo "  # unexpected match for: $3"; printf '%s\n' "$2" | sed 's/^/  # /' | head -n 30
    else ok "$1"; fi
}

# addr NAME: the testbed address of NAME
addr() { awk -v n="$1" '$1 == n { print $2 }' "$TESTBED_HOSTS"; }

# qdig ARGS...: dig through the testbed's validating unbound
qdig() { dig +time=5 +tries=1 @"$TESTBED_UNBOUND_ADDR" "$@"; }

done_testing() {
    if [ "$TB_FAILS" -gt 0 ]; then echo "# $TB_FAILS check(s) failed"; exit 1; fi
    echo "# all checks passed"
}

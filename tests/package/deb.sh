#!/usr/bin/env bash
# deb.sh - the Debian package (issue 16, part 3), end to end on this machine:
#
#   1. builds it with `dpkg-buildpackage -us -uc` (source and binary) in a
#      temporary copy of the tree (the files `git ls-files` lists, tracked and
#      untracked-not-ignored, but Python's caches), so the checkout is never
#      written to; the package's version is meson.build's project version;
#   2. the .deb holds mxtlsd in /usr/sbin, mxtls in /usr/bin, both man pages,
#      mxtlsd.service running as User=mxtls with /etc/mxtls/mxtlsd.yml, the
#      configuration as a conffile with its cache in /var/lib/mxtls;
#   3. lintian reports no error and no warning that debian/ does not override;
#   4. `apt-get install ./mxtls_*.deb`: the system user mxtls exists (a
#      system uid, no login shell), /var/lib/mxtls is 0750 mxtls:mxtls, the
#      packaged configuration passes --check-config as mxtls;
#   5. mxtlsd runs as mxtls on a free loopback port: through systemd's unit
#      when systemd is PID 1 (a runtime drop-in points it at a copy of the
#      packaged configuration with that port), otherwise started directly as
#      mxtls with that copy; it answers `postmap -q example.invalid
#      socketmap:inet:127.0.0.1:PORT:postfix` (NOTFOUND, TEMP or OK: any
#      socketmap answer proves it serves), `mxtls query example.invalid`
#      (no -c) reaches it on the packaged control socket, its control socket
#      and cache in /var/lib/mxtls belong to mxtls; then it stops cleanly;
#   6. `apt-get remove`: the programs, man pages and unit are gone, the
#      conffile and /var/lib/mxtls stay (Debian's remove); `apt-get purge`:
#      /etc/mxtls, /var/lib/mxtls and the unit's enablement are gone; the
#      system user mxtls stays (Debian keeps system users: their uid may
#      still own files) but owns nothing in /etc, /var or /run.
#
# Not part of `make test` (the build takes minutes and it installs a package
# on the machine): a CI stage. Prints the whole transcript; exits 1 when a
# check fails. What it found before it runs is put back afterwards: a
# /var/lib/mxtls or /etc/mxtls not from the package is moved aside and
# restored, and the user mxtls is deleted again when this script created it.
# An installed mxtls package is refused (remove it first).
#
# With --systemd-container, on a machine whose PID 1 is not systemd (a CI
# container), it boots this machine's own root read-only under a tmpfs
# overlay as a systemd container (systemd-nspawn --private-network, package
# systemd-container) and runs itself in there, so the unit's path is tested
# too; nothing the container does reaches the machine's disk or network.
#
# usage: tests/package/deb.sh [--systemd-container]   (root, Debian 12; scripts/deps package)
# env:   DEB_SH_KEEP=1  keep the temporary directory (build log, .deb, logs)
set -euo pipefail
export LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive

top=$(cd "$(dirname "$0")/../.." && pwd)
self=$top/tests/package/deb.sh

# container_stop: SIGTERM, and nspawn asks the container's systemd to halt (a
# signal that arrives while it is still starting is lost: ask again); SIGKILL
# after half a minute.
nspawn_pid=
container_stop() {
    [ -n "$nspawn_pid" ] || return 0
    for _ in $(seq 1 6); do
        kill -0 "$nspawn_pid" 2>/dev/null || break
        kill -TERM "$nspawn_pid"
        for _ in $(seq 1 25); do kill -0 "$nspawn_pid" 2>/dev/null && sleep 0.2; done
    done
    kill -0 "$nspawn_pid" 2>/dev/null && kill -KILL "$nspawn_pid"
    wait "$nspawn_pid" || true
    nspawn_pid=
}

# container_run DIR: in a private mount namespace (unshare -m), boot the
# overlay of / (its upper layer a tmpfs on DIR) with systemd-nspawn -b, wait
# for its systemd, run this script in it (nsenter into all its namespaces),
# halt it; exit with the script's status.
container_run() {
    local ov=$1 init_pid state rc=0
    command -v systemd-nspawn >/dev/null || {
        echo "Bail out! systemd-nspawn is missing: apt-get install systemd-container"
        exit 1
    }
    mount -t tmpfs -o size=4g tmpfs "$ov"
    mkdir "$ov/upper" "$ov/work" "$ov/root"
    mount -t overlay overlay -o "lowerdir=/,upperdir=$ov/upper,workdir=$ov/work" "$ov/root"
    # in there a package's start is not refused (the postinst's start is tested)
    rm -f "$ov/root/usr/sbin/policy-rc.d"
    mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn
    echo "== systemd container on $ov/root (this machine's root, a tmpfs overlay)"
    systemd-nspawn --quiet -D "$ov/root" --private-network -M mxtls-deb --link-journal=no \
        --register=no --keep-unit -b >"$ov/console.log" 2>&1 </dev/null &
    nspawn_pid=$!
    trap container_stop EXIT
    # the container's init: nspawn's child named systemd (a first, transient
    # child sets up the namespaces and exits)
    init_pid=
    for _ in $(seq 1 150); do
        init_pid=$(ps -o pid=,comm= --ppid "$nspawn_pid" | awk '$2 == "systemd" {print $1; exit}' || true)
        [ -n "$init_pid" ] && break
        sleep 0.2
    done
    if [ -z "$init_pid" ]; then
        cat "$ov/console.log"
        echo "Bail out! systemd-nspawn did not start a container"
        rc=1
    else
        # booted: running, or degraded (a unit of the machine's failed in there)
        for _ in $(seq 1 120); do
            state=$(nsenter -t "$init_pid" -a systemctl is-system-running 2>/dev/null || true)
            case $state in running | degraded) break ;; esac
            sleep 1
        done
        echo "container systemd (pid $init_pid here): ${state:-no answer}"
        nsenter -t "$init_pid" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
            ${DEB_SH_KEEP:+DEB_SH_KEEP=$DEB_SH_KEEP} bash "$self" || rc=$?
    fi
    container_stop
    exit "$rc"
}
case ${1:-} in
--systemd-container)
    [ "$(id -u)" -eq 0 ] || { echo "Bail out! run as root"; exit 1; }
    ov=$(mktemp -d /tmp/mxtls-deb-root.XXXXXX)
    rc=0
    unshare -m --propagation private bash "$self" --in-namespace "$ov" || rc=$?
    rmdir "$ov" # its mounts ended with the namespace
    exit "$rc" ;;
--in-namespace) container_run "${2:?}" ;;
"") ;;
*) echo "usage: deb.sh [--systemd-container]" >&2; exit 64 ;;
esac
fails=0 n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
# expect WHAT CMD...: ok when CMD succeeds
expect() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
# run CMD...: show and run CMD (its output is part of the transcript)
run() {
    echo "+ $*"
    "$@"
}
die() {
    echo "Bail out! $*"
    exit 1
}
step() { echo; echo "== $*"; }
known() { getent "$@" >/dev/null; }
# apt-get without dpkg's progress bars (the transcript is read, not watched)
apt() { run apt-get -q -o Dpkg::Use-Pty=0 "$@"; }

[ "$(id -u)" -eq 0 ] || die "run as root: it installs and purges the package"
for t in dpkg-buildpackage dh lintian postmap python3 setpriv ss git meson apt-get; do
    command -v "$t" >/dev/null || die "$t is missing: scripts/deps package"
done
if dpkg-query -W -f='${Status}' mxtls 2>/dev/null | grep -qv 'not-installed'; then
    die "the mxtls package is installed or left configured here: apt-get purge mxtls first"
fi

# The version: debian/changelog must say meson.build's project version.
version=$(meson introspect --projectinfo "$top/meson.build" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
deb_version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)

work=$(mktemp -d /tmp/mxtls-deb.XXXXXX)
src=$work/mxtls-$version
run_dir=/run/mxtls-deb-test.$$
dropin_dir=/run/systemd/system/mxtlsd.service.d
dropin=$dropin_dir/zz-mxtls-deb-test.conf
daemon_pid=
saved=()
user_existed=no
getent passwd mxtls >/dev/null && user_existed=yes
systemd=no
[ -d /run/systemd/system ] && [ "$(ps -p 1 -o comm=)" = systemd ] && systemd=yes

cleanup() {
    local rc=$?
    set +e
    step "cleanup"
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        wait "$daemon_pid"
    fi
    if dpkg-query -W -f='${Status}' mxtls 2>/dev/null | grep -qv 'not-installed'; then
        apt purge -y mxtls
    fi
    if [ -e "$dropin" ]; then
        rm -f "$dropin"
        rmdir "$dropin_dir" 2>/dev/null
        [ "$systemd" = yes ] && systemctl daemon-reload
    fi
    rm -rf "$run_dir"
    if [ "$user_existed" = no ] && getent passwd mxtls >/dev/null; then
        echo "test cleanup (not the package's doing): delete the user mxtls this run created"
        deluser --system --quiet mxtls 2>&1 | grep -v crontab
        known group mxtls && delgroup --system --quiet mxtls
    fi
    local s
    for s in "${saved[@]}"; do
        echo "restore ${s%%=*} (moved aside before the test)"
        rm -rf "${s%%=*}" && mv "${s#*=}" "${s%%=*}"
    done
    if [ "${DEB_SH_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ] || [ "$fails" -ne 0 ]; then
        echo "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

step "version"
echo "meson.build: $version, debian/changelog: $deb_version, architecture: $arch, systemd PID 1: $systemd"
expect "debian/changelog's version is meson.build's project version ($deb_version)" \
    test "$deb_version" = "$version"

# Every build package of scripts/deps (but the compiler, implied by
# build-essential) must be a Build-Depends of debian/control: a clean build
# root (sbuild, pbuilder) has only those.
bd_missing=$(python3 - "$top" <<'PY'
import re, sys
top = sys.argv[1]
deps = open(top + "/scripts/deps").read()
want = re.search(r"^build_pkgs=\((.*)\)$", deps, re.M).group(1).split()
para = open(top + "/debian/control").read().split("\n\n")[0]
field = re.search(r"^Build-Depends:(.*(?:\n[ \t].*)*)", para, re.M).group(1)
have = {re.split(r"[\s(\[<:]", alt.strip())[0]
        for dep in field.split(",") for alt in dep.split("|") if alt.strip()}
print(" ".join(p for p in want if p not in have and p not in ("gcc", "libc6-dev")))
PY
)
expect "debian/control's Build-Depends has scripts/deps' build packages${bd_missing:+ (missing: $bd_missing)}" \
    test -z "$bd_missing"

step "copy the tree to $src"
mkdir -p "$src"
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do
        case $f in */__pycache__/* | *.pyc) continue ;; esac # the testbed's, at run time
        [ -e "$f" ] && printf '%s\0' "$f"
    done |
    tar --null -T - -cf -) | tar -C "$src" -xf -
echo "$(find "$src" -type f | wc -l) files"
[ -f "$src/debian/rules" ] || die "no debian/rules in the copy"

step "build: dpkg-buildpackage -us -uc (log $work/build.log)"
start=$(date +%s)
if ! (cd "$src" && dpkg-buildpackage -us -uc) >"$work/build.log" 2>&1; then
    tail -n 60 "$work/build.log"
    die "dpkg-buildpackage failed (log above)"
fi
grep -E '^(Ok|Fail):' "$work/build.log" | sed 's/^/unit suite in the build: /'
grep -E 'mxtlsd.yml: OK' "$work/build.log" || true
grep -E "^dpkg-deb: building" "$work/build.log"
echo "built in $(($(date +%s) - start)) s"
deb=$work/mxtls_${version}_$arch.deb
expect "the package mxtls_${version}_$arch.deb was built" test -f "$deb"

step "contents: dpkg-deb -c"
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}'
listing=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/sbin/mxtlsd ./usr/bin/mxtls ./usr/share/man/man8/mxtlsd.8.gz \
    ./usr/share/man/man1/mxtls.1.gz ./etc/mxtls/mxtlsd.yml ./usr/share/doc/mxtls/copyright; do
    expect "the package holds $f" grep -qxF "$f" <<<"$listing"
done
unit_path=$(grep -E '^\./(usr/)?lib/systemd/system/mxtlsd\.service$' <<<"$listing" || true)
expect "the package holds the unit mxtlsd.service ($unit_path)" test -n "$unit_path"
expect "no program in /usr/local" bash -c "! grep -q '^\./usr/local' <<<\"\$1\"" _ "$listing"
dpkg-deb -x "$deb" "$work/x"
dpkg-deb -e "$deb" "$work/x/DEBIAN"
expect "/etc/mxtls/mxtlsd.yml is a conffile" grep -qxF /etc/mxtls/mxtlsd.yml "$work/x/DEBIAN/conffiles"
unit=$work/x/${unit_path#./}
expect "the unit runs as User=mxtls" grep -qx 'User=mxtls' "$unit"
expect "the unit has no DynamicUser" bash -c "! grep -q DynamicUser \"\$1\"" _ "$unit"
expect "the unit starts /usr/sbin/mxtlsd -c /etc/mxtls/mxtlsd.yml" \
    grep -qx 'ExecStart=/usr/sbin/mxtlsd -c /etc/mxtls/mxtlsd.yml' "$unit"
# shellcheck disable=SC2016 # $1 is bash -c's
expect "the unit keeps its hardening (ProtectSystem=strict, SystemCallFilter)" \
    bash -c 'grep -qx ProtectSystem=strict "$1" && grep -qx SystemCallFilter=@system-service "$1"' _ "$unit"
expect "the unit's state directory is /var/lib/mxtls" grep -qx 'StateDirectory=mxtls' "$unit"
expect "the configuration's cache is /var/lib/mxtls/cache.db" \
    grep -qE '^ +filename: /var/lib/mxtls/cache\.db$' "$work/x/etc/mxtls/mxtlsd.yml"
dpkg-deb -f "$deb" Depends | sed 's/^/Depends: /'

step "lintian"
echo "+ lintian -I -E --pedantic --show-overrides --fail-on error,warning mxtls_${version}_$arch.changes"
if (cd "$work" && lintian -I -E --pedantic --show-overrides --fail-on error,warning \
    "mxtls_${version}_$arch.changes") >"$work/lintian.log" 2>&1; then
    lintian_rc=0
else
    lintian_rc=$?
fi
grep -v 'running with root privileges is not recommended' "$work/lintian.log" || true
expect "lintian: no error, no warning without an override (exit $lintian_rc)" test "$lintian_rc" = 0

step "state found before the install"
for d in /var/lib/mxtls /etc/mxtls; do
    if [ -e "$d" ]; then
        echo "$d exists (not from the package): moved aside to $d.deb-sh-saved.$$ until the end"
        ls -la "$d"
        mv "$d" "$d.deb-sh-saved.$$"
        saved+=("$d=$d.deb-sh-saved.$$")
    fi
done
echo "user mxtls before the install: $user_existed"

# A port nobody listens on (the kernel's choice), and the packaged
# configuration with it, in /run (visible to the unit despite PrivateTmp).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -m 0755 "$run_dir"
conf=$run_dir/mxtlsd.yml
sed "s/^port: 8461$/port: $port/" "$work/x/etc/mxtls/mxtlsd.yml" >"$conf"
chmod 0644 "$conf"
expect "the test configuration listens on 127.0.0.1:$port" grep -qx "port: $port" "$conf"
if [ "$systemd" = yes ]; then
    # In place before the install, so the start the postinst makes uses it.
    mkdir -p "$dropin_dir"
    cat >"$dropin" <<EOF
# deb.sh: the packaged configuration on a free port ($port)
[Service]
ExecStartPre=
ExecStartPre=/usr/sbin/mxtlsd -c $conf --check-config
ExecStart=
ExecStart=/usr/sbin/mxtlsd -c $conf
EOF
    echo "runtime drop-in $dropin:"
    cat "$dropin"
fi

step "install"
(cd "$work" && apt install -y --no-install-recommends "./mxtls_${version}_$arch.deb")
expect "dpkg: mxtls is installed" \
    bash -c "dpkg-query -W -f='\${Status}' mxtls | grep -qx 'install ok installed'"
for f in /usr/sbin/mxtlsd /usr/bin/mxtls; do
    expect "$f is installed and runs ($("$f" --version 2>&1 | head -n 1))" "$f" --version
done
expect "the man pages are installed" \
    test -f /usr/share/man/man8/mxtlsd.8.gz -a -f /usr/share/man/man1/mxtls.1.gz
pw=$(getent passwd mxtls || true)
echo "passwd: $pw"
echo "group:  $(getent group mxtls || true)"
uid=$(cut -d: -f3 <<<"$pw")
expect "the user mxtls is a system user (uid $uid < 1000)" test -n "$uid" -a "${uid:-1000}" -lt 1000
expect "the user mxtls has no login shell" test "$(cut -d: -f7 <<<"$pw")" = /usr/sbin/nologin
expect "the group mxtls exists" known group mxtls
ls -ld /var/lib/mxtls /etc/mxtls /etc/mxtls/mxtlsd.yml
expect "/var/lib/mxtls is 0750 mxtls:mxtls" test "$(stat -c %a:%U:%G /var/lib/mxtls)" = 750:mxtls:mxtls
expect "the packaged configuration passes --check-config as mxtls" \
    setpriv --reuid=mxtls --regid=mxtls --init-groups \
    /usr/sbin/mxtlsd -c /etc/mxtls/mxtlsd.yml --check-config
if command -v systemd-analyze >/dev/null; then
    expect "systemd-analyze verify: the installed unit is valid" \
        systemd-analyze verify --man=no "/${unit_path#./}"
fi

step "start (systemd PID 1: $systemd), 127.0.0.1:$port"
if [ "$systemd" = yes ]; then
    # The postinst started it unless a policy-rc.d said no; start is idempotent.
    run systemctl start mxtlsd || echo "systemctl start failed (the checks below say how)"
    run systemctl --no-pager status mxtlsd || true
    daemon_pid=
    main_pid=$(systemctl show -p MainPID --value mxtlsd)
else
    echo "+ setpriv --reuid=mxtls --regid=mxtls --init-groups /usr/sbin/mxtlsd -c $conf -v debug &"
    setpriv --reuid=mxtls --regid=mxtls --init-groups \
        /usr/sbin/mxtlsd -c "$conf" -v debug >"$work/mxtlsd.log" 2>&1 &
    daemon_pid=$!
    main_pid=$daemon_pid
fi
listening=no
for _ in $(seq 1 100); do
    if ss -Htln "sport = :$port" | grep -q "127.0.0.1:$port"; then listening=yes; break; fi
    [ -n "$main_pid" ] && [ "$main_pid" != 0 ] && ! kill -0 "$main_pid" 2>/dev/null && break
    sleep 0.2
done
expect "mxtlsd listens on 127.0.0.1:$port" test "$listening" = yes
expect "mxtlsd (pid $main_pid) runs as mxtls" test "$(ps -o user= -p "$main_pid" 2>/dev/null)" = mxtls

step "postmap"
echo "+ postmap -q example.invalid socketmap:inet:127.0.0.1:$port:postfix"
pm_rc=0
pm_out=$(timeout 60 postmap -q example.invalid "socketmap:inet:127.0.0.1:$port:postfix" 2>&1) || pm_rc=$?
echo "$pm_out"
echo "(postmap exit $pm_rc)"
# OK: exit 0 and the value; NOTFOUND: exit 1 and nothing said; TEMP and PERM:
# postmap's "socketmap server temporary/permanent error" warning. A refused
# connection ("connect to ...") or no answer is none of these.
served=no
if [ "$pm_rc" = 0 ] && [ -n "$pm_out" ]; then
    served="yes (OK)"
elif [ "$pm_rc" = 1 ] && [ -z "$pm_out" ]; then
    served="yes (NOTFOUND)"
elif grep -qE 'socketmap server (temporary|permanent) error' <<<"$pm_out"; then
    served="yes (TEMP or PERM)"
fi
expect "mxtlsd answered postmap's socketmap query: $served" test "$served" != no
# mxtls(1) without -c asks /var/lib/mxtls/control.sock, which the packaged
# configuration names: exit 0, 1 or 2 is the daemon's OK, NOTFOUND or TEMP; 3
# is "mxtlsd cannot be reached".
echo "+ mxtls query example.invalid"
q_rc=0
timeout 60 mxtls query example.invalid || q_rc=$?
expect "mxtls query (no -c) reached the daemon on its control socket (exit $q_rc)" \
    test "$q_rc" -le 2
ls -la /var/lib/mxtls
expect "its control socket /var/lib/mxtls/control.sock belongs to mxtls" \
    test -S /var/lib/mxtls/control.sock -a "$(stat -c %U /var/lib/mxtls/control.sock)" = mxtls
expect "its cache /var/lib/mxtls/cache.db belongs to mxtls" \
    test "$(stat -c %U /var/lib/mxtls/cache.db 2>/dev/null)" = mxtls

step "stop"
if [ "$systemd" = yes ]; then
    run systemctl stop mxtlsd
    expect "systemd stopped mxtlsd" bash -c '! systemctl is-active --quiet mxtlsd'
    run journalctl -u mxtlsd --no-pager -n 20 || true
else
    echo "+ kill -TERM $daemon_pid"
    kill -TERM "$daemon_pid"
    d_rc=0
    wait "$daemon_pid" || d_rc=$?
    daemon_pid=
    cat "$work/mxtlsd.log"
    expect "mxtlsd exited 0 on SIGTERM ($d_rc)" test "$d_rc" = 0
fi

step "remove"
apt remove -y mxtls
run dpkg-query -W -f='${Package} ${Status}\n' mxtls || true
expect "after remove: the programs are gone" test ! -e /usr/sbin/mxtlsd -a ! -e /usr/bin/mxtls
expect "after remove: the man pages are gone" test ! -e /usr/share/man/man8/mxtlsd.8.gz
expect "after remove: the unit is gone" test ! -e "/${unit_path#./}"
expect "after remove: the conffile stays (dpkg: config-files)" test -f /etc/mxtls/mxtlsd.yml
expect "after remove: the state /var/lib/mxtls stays" test -d /var/lib/mxtls

step "purge"
apt purge -y mxtls
pkg_state=$(dpkg-query -W -f='${Status}' mxtls 2>/dev/null || echo "unknown to dpkg")
echo "dpkg: $pkg_state"
expect "after purge: dpkg knows no mxtls" bash -c "! grep -q 'config-files\|installed' <<<'$pkg_state'"
expect "after purge: /etc/mxtls is gone" test ! -e /etc/mxtls
expect "after purge: /var/lib/mxtls is gone" test ! -e /var/lib/mxtls
expect "after purge: the unit is neither enabled nor masked" \
    test ! -L /etc/systemd/system/multi-user.target.wants/mxtlsd.service \
    -a ! -L /etc/systemd/system/mxtlsd.service
echo "passwd after purge: $(getent passwd mxtls || echo none)"
expect "after purge: the system user mxtls is kept (Debian keeps system users)" known passwd mxtls
owned=$(find /etc /var /run -xdev -user mxtls 2>/dev/null | head -n 20)
[ -n "$owned" ] && echo "$owned"
expect "after purge: mxtls owns no file in /etc, /var or /run" test -z "$owned"

echo
echo "1..$n"
if [ "$fails" -ne 0 ]; then
    echo "# $fails of $n checks failed"
    exit 1
fi
echo "# all $n checks passed"

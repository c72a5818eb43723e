#!/bin/sh
# deps.sh: installs what recmesh needs on Debian 12 (bookworm) or Debian 13
# (trixie), with the package names of the release it runs on (from
# /etc/os-release); any other system is refused with a message.
#
#   tests/deps.sh           everything: build, unit and system tests, fuzz
#                           harnesses, Debian package, benches and demo
#   tests/deps.sh --build   what building, the unit tests, the fuzz harnesses
#                           and the Debian package need (no servers); the
#                           Debian 13 build chroot of tests/debian13.sh
#
# Run as root. Idempotent: a second run installs nothing new.
set -eu
case ${1:-} in
"") mode=all ;;
--build) mode=build ;;
*)
	echo "usage: deps.sh [--build]" >&2
	exit 2
	;;
esac

# os VAR: a field of /etc/os-release, unquoted
os() { sed -n "s/^$1=//p" /etc/os-release 2>/dev/null | tr -d '"' | head -n 1; }
release="$(os ID) $(os VERSION_CODENAME)"
# The names that differ between the releases: clang's runtime (libFuzzer and
# the sanitizers for -fsanitize=fuzzer) of the release's clang, systemd.pc
# (where the Debian package puts the units) and dig.
case $release in
"debian bookworm")
	CLANG_RT=libclang-rt-14-dev
	SYSTEMD_PC=systemd
	DIG=dnsutils
	;;
"debian trixie")
	CLANG_RT=libclang-rt-19-dev
	SYSTEMD_PC=systemd-dev
	DIG=bind9-dnsutils
	;;
*)
	name=$(os PRETTY_NAME)
	echo "deps.sh: ${name:-this system (no /etc/os-release)} is not a release deps.sh knows;" \
		"it knows Debian 12 (bookworm) and Debian 13 (trixie): add this release's package names to tests/deps.sh" >&2
	exit 1
	;;
esac

# (the unit tests run contrib/recmesh.lua under luajit, and test_lua.sh checks
# its NS speed dumps and float32 bytes with python3)
BUILD="build-essential autoconf automake libtool pkg-config
libldns-dev libnats-dev libssl-dev libev-dev uthash-dev libcmocka-dev
libprotobuf-c-dev protobuf-c-compiler luajit python3
debhelper lintian adduser $SYSTEMD_PC
clang $CLANG_RT"
# the servers and tools of the system tests, the benches and the demo, and
# debootstrap for the chroots of tests/chroots.sh and tests/debian13.sh
REST="ldnsutils pdns-recursor nsd nats-server $DIG knot-dnsutils dnsperf dnsdist
iproute2 procps gnuplot-nox groff-base
prometheus openssl python3-nacl debootstrap"
PACKAGES=$BUILD
[ "$mode" = build ] || PACKAGES="$BUILD $REST"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps.sh: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi
# The packaged services must not hold port 53 or 4222 on the loopback
# addresses the tests use; they are not needed, stop them if a service
# manager started them.
for s in nsd pdns-recursor nats-server dnsdist; do
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$s" 2>/dev/null; then
		systemctl stop "$s" || true
	fi
done

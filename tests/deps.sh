#!/bin/sh
# deps.sh: installs what recmesh needs to build, test, benchmark and demo on Debian 12.
# Run as root. Idempotent: a second run installs nothing new.
set -eu
PACKAGES="build-essential autoconf automake libtool pkg-config
libldns-dev ldnsutils libnats-dev libssl-dev libev-dev uthash-dev libcmocka-dev
libprotobuf-c-dev protobuf-c-compiler
pdns-recursor nsd nats-server dnsutils knot-dnsutils dnsperf dnsdist
iproute2 procps gnuplot-nox groff-base luajit
python3 prometheus debhelper lintian adduser
openssl python3-nacl
clang libclang-rt-14-dev"
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

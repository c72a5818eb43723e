#!/bin/sh
# chroots.sh: makes, once per machine, the Debian chroots that the Recursor
# matrix of the system tests and benches runs the newer Recursors from:
#   trixie (Debian 13): pdns-recursor 5.2, dnsdist 1.9
#   sid:                pdns-recursor 5.4
# Each is a debootstrap --variant=minbase tree (about 40 s and 400 MB) in
# $RM_CHROOT_DIR/SUITE (default /var/lib/recmesh-test/chroots). A chroot that
# is there and holds its packages is reused as it is; one that lacks a package
# gets it installed; a half-made one (interrupted) is made again. Run as root.
# The mirror is the host's own Debian mirror (from its apt sources).
#
#   tests/chroots.sh              # both suites
#   tests/chroots.sh sid          # one
#   tests/chroots.sh --print-dir sid   # where it is (made or not)
#   tests/chroots.sh --print-mirror    # the mirror debootstrap is given (or nothing)
#
# tests/system/lib.sh runs the Recursor of a chroot (RM_RECURSOR=5.2|5.4) in a
# private mount namespace with the test's folders bind-mounted at their own
# paths, so nothing is mounted on the host.
set -eu

base=${RM_CHROOT_DIR:-/var/lib/recmesh-test/chroots}

# packages SUITE: what a chroot of SUITE must hold
packages() {
	case $1 in
	# dnsdist needs libre2-11-absl20240722, which libre2-11 provides: debootstrap does not
	# follow a virtual package to its provider, so libre2-11 is named here
	trixie) echo "pdns-recursor dnsdist libre2-11" ;;
	sid) echo "pdns-recursor" ;;
	*)
		echo "chroots.sh: unknown suite '$1' (trixie or sid)" >&2
		return 1
		;;
	esac
}

# mirror: the host's Debian mirror (the first URI of a 'debian' archive in
# its apt sources), or nothing, and debootstrap uses its default
mirror() {
	{
		sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\/\{0,1\}\)[[:space:]]*$/\1/p' \
			/etc/apt/sources.list.d/*.sources 2>/dev/null
		sed -n 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\/debian\/\{0,1\}\)[[:space:]].*/\2/p' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
	} | head -n 1
}

# missing DIR PKGS...: print the packages of PKGS not installed in chroot DIR
missing() {
	dir=$1
	shift
	for p in "$@"; do
		chroot "$dir" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
			|| printf ' %s' "$p"
	done
}

# make_one SUITE: make or complete the chroot of SUITE
make_one() {
	suite=$1
	pkgs=$(packages "$suite")
	dir=$base/$suite
	if [ -f "$dir/.recmesh-complete" ]; then
		# shellcheck disable=SC2086
		need=$(missing "$dir" $pkgs)
		[ -n "$need" ] || return 0
		echo "chroots.sh: $suite: installing$need"
		# shellcheck disable=SC2086
		if ! chroot "$dir" env DEBIAN_FRONTEND=noninteractive sh -c \
			"apt-get update -q && apt-get install -y -q --no-install-recommends $need" \
			>"$base/$suite.install.log" 2>&1; then
			echo "chroots.sh: installing$need into $suite failed; the last lines of $base/$suite.install.log:" >&2
			tail -n 20 "$base/$suite.install.log" >&2
			return 1
		fi
		return 0
	fi
	command -v debootstrap >/dev/null 2>&1 || {
		echo "chroots.sh: debootstrap is missing (tests/deps.sh installs it)" >&2
		return 1
	}
	echo "chroots.sh: making the $suite chroot in $dir ($pkgs; about a minute)"
	rm -rf "$dir.new"
	mkdir -p "$base"
	include=$(echo "$pkgs" | tr ' ' ',')
	# shellcheck disable=SC2046  # the mirror is one word or none
	if ! debootstrap --variant=minbase --include="$include" "$suite" "$dir.new" $(mirror) \
		>"$base/$suite.debootstrap.log" 2>&1; then
		echo "chroots.sh: debootstrap $suite failed; the last lines of $base/$suite.debootstrap.log:" >&2
		tail -n 20 "$base/$suite.debootstrap.log" >&2
		return 1
	fi
	# The chroot's own services never run: it only lends its binaries.
	printf '#!/bin/sh\nexit 101\n' >"$dir.new/usr/sbin/policy-rc.d"
	chmod 755 "$dir.new/usr/sbin/policy-rc.d"
	touch "$dir.new/.recmesh-complete"
	rm -rf "$dir"
	mv "$dir.new" "$dir"
	printf 'chroots.sh: %s ready: ' "$suite"
	chroot "$dir" pdns_recursor --version 2>&1 | head -n 1
}

if [ "${1:-}" = "--print-dir" ]; then
	echo "$base/${2:?--print-dir SUITE}"
	exit 0
fi
if [ "${1:-}" = "--print-mirror" ]; then
	mirror
	exit 0
fi
[ "$(id -u)" = 0 ] || {
	echo "chroots.sh: run as root (debootstrap and chroot need it)" >&2
	exit 1
}
[ $# -gt 0 ] || set -- trixie sid
mkdir -p "$base"
# one maker at a time (make -j, two test runs): the second waits, then finds it made
exec 9>"$base/.lock"
flock 9
for s in "$@"; do
	make_one "$s"
done

#!/usr/bin/env bash
# shellcheck disable=SC2016  # the sh -c scripts expand their arguments in the chroot
# debian13.sh: builds recmesh from its distribution tarball on Debian 13
# (trixie), in a trixie build chroot, and checks what it built:
#   - configure --enable-werror and make (gcc 14);
#   - the unit tests (RECMESH_SKIP_SYSTEM=1 make check): every unit test that
#     Makefile.am lists must PASS (the system tests exit 77 at once, SKIP:
#     tests/all.sh runs them on the host);
#   - the libFuzzer harnesses (tests/fuzz/build.sh, clang 19), then their
#     regression inputs and a short fixed run of each (tests/fuzz/run.sh -r);
#   - the Debian package (dpkg-buildpackage -us -uc -b, lintian --fail-on
#     error); its Depends must name the trixie package of every library the
#     program links; it is installed into the chroot (units where trixie's
#     systemd looks for them), run and purged.
# Prints the versions it built with. Exits non-zero with a message on the
# first failure, and keeps the build folder for a look.
#
#   tests/debian13.sh [TARBALL]   (default: made by make dist from this tree)
#
# The chroot, $RM_CHROOT_DIR/trixie-build (default
# /var/lib/recmesh-test/chroots/trixie-build, beside those of tests/chroots.sh),
# is made once per machine: debootstrap --variant=minbase, then the tarball's
# tests/deps.sh --build inside it (2 to 5 minutes, 1.4 GB). A chroot that
# is there is reused; deps.sh installs into it only what is missing; a
# half-made one (interrupted) is made again. The mirror is the host's own
# (tests/chroots.sh --print-mirror).
#
# Everything but making the tarball runs in the chroot, in a private mount
# namespace (unshare) where the build folder, /proc and /dev/pts are mounted,
# so nothing is ever mounted on the host. Run as root on the host (Debian 12).
# With the chroot made, a run takes about 3 minutes on 2 busy cores.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
root=$("$top/tests/chroots.sh" --print-dir trixie-build)
base=$(dirname "$root")
jobs=$(nproc)
start=$SECONDS
[[ $# -le 1 ]] || { echo "usage: debian13.sh [TARBALL]" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "debian13.sh: run as root (debootstrap and chroot need it)" >&2; exit 1; }

# the build folder: on the host, mounted into the chroot at the same path;
# removed on success, kept on failure
work=$(mktemp -d /tmp/recmesh-deb13.XXXXXX)
finish() {
	local rc=$?
	rmdir "$root$work" "$root.new$work" 2>/dev/null || true
	if ((rc == 0)); then
		rm -rf "$work"
	else
		echo "debian13.sh: failed after $((SECONDS - start)) s; the build is kept in $work" >&2
	fi
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() {
	echo "debian13.sh: $*" >&2
	exit 1
}
sub() { printf '\n--- debian13.sh: %s (at %d s)\n' "$*" $((SECONDS - start)); }

# mounted_under DIR: is anything mounted at or below DIR (in this namespace)?
mounted_under() { awk -v d="$1" '$5 == d || index($5, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; }

# in_chroot DIR CMD...: run CMD in the chroot DIR, in a private mount namespace
# with the build folder ($work, at its own path), /proc and /dev/pts mounted,
# in a clean environment
in_chroot() {
	local dir=$1
	shift
	unshare --mount --propagation private sh -c '
		dir=$1 work=$2
		shift 2
		mkdir -p "$dir$work" && mount --bind "$work" "$dir$work" || exit 2
		mount -t proc proc "$dir/proc" || exit 2
		# a terminal of its own for apt and dpkg
		mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$dir/dev/pts" || exit 2
		mount --bind "$dir/dev/pts/ptmx" "$dir/dev/ptmx" || exit 2
		exec chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
			LANG=C.UTF-8 "$@"' sh "$dir" "$work" "$@"
}

if [[ $# -eq 1 ]]; then
	[[ -f $1 ]] || fail "no tarball '$1'"
	tarball=$(realpath "$1")
else
	sub "make dist (on the host)"
	[[ -x $top/configure ]] || (cd "$top" && autoreconf -fi)
	mkdir "$work/dist"
	(cd "$work/dist" && "$top/configure" -q && make -s dist) || fail "make dist failed"
	tarball=$(echo "$work"/dist/recmesh-*.tar.gz)
fi
tar -C "$work" -xzf "$tarball"
src=$(echo "$work"/recmesh-*/)
src=${src%/}
[[ -f $src/configure && -f $src/tests/deps.sh ]] || fail "$tarball is not a recmesh distribution tarball"

# one run at a time: the chroot is made, completed and used by one
mkdir -p "$base"
exec 9>"$base/.trixie-build.lock"
flock 9

sub "the build chroot $root"
if [[ -f $root/.recmesh-complete ]]; then
	in_chroot "$root" sh "$src/tests/deps.sh" --build || fail "deps.sh --build failed in $root"
else
	command -v debootstrap >/dev/null || fail "debootstrap is missing (tests/deps.sh installs it)"
	mounted_under "$root.new" && fail "something is mounted below $root.new: unmount it first"
	echo "debian13.sh: making the trixie build chroot (debootstrap, then deps.sh --build; a few minutes)"
	rm -rf "$root.new"
	# shellcheck disable=SC2046  # the mirror is one word or none
	debootstrap --variant=minbase trixie "$root.new" $("$top/tests/chroots.sh" --print-mirror) \
		>"$base/trixie-build.debootstrap.log" 2>&1 \
		|| { tail -n 20 "$base/trixie-build.debootstrap.log" >&2; fail "debootstrap trixie failed (the log: $base/trixie-build.debootstrap.log)"; }
	# no service of the chroot ever starts
	printf '#!/bin/sh\nexit 101\n' >"$root.new/usr/sbin/policy-rc.d"
	chmod 755 "$root.new/usr/sbin/policy-rc.d"
	in_chroot "$root.new" sh "$src/tests/deps.sh" --build >"$base/trixie-build.deps.log" 2>&1 \
		|| { tail -n 20 "$base/trixie-build.deps.log" >&2; fail "deps.sh --build failed in the new chroot (the log: $base/trixie-build.deps.log)"; }
	touch "$root.new/.recmesh-complete"
	mounted_under "$root" && fail "something is mounted below $root: unmount it first"
	rm -rf "$root"
	mv "$root.new" "$root"
fi

sub "versions"
in_chroot "$root" sh -c '
	echo "Debian $(cat /etc/debian_version)"
	gcc --version | head -n 1
	clang --version | head -n 1
	for m in libnats ldns libprotobuf-c libcrypto cmocka; do echo "$m $(pkg-config --modversion $m)"; done
	dpkg-query -W -f="\${Package} \${Version}\n" libnats-dev libldns-dev libev-dev libprotobuf-c-dev libssl-dev \
		libcmocka-dev uthash-dev debhelper lintian'

sub "configure --enable-werror, make"
in_chroot "$root" sh -c 'mkdir "$1/build" && cd "$1/build" && "$2/configure" --enable-werror -q && make -j"$3"' \
	sh "$work" "$src" "$jobs" || fail "the build failed"

sub "unit tests (RECMESH_SKIP_SYSTEM=1 make check)"
in_chroot "$root" sh -c 'cd "$1/build" && RECMESH_SKIP_SYSTEM=1 make -j"$2" check' sh "$work" "$jobs" \
	|| { tail -n 50 "$work"/build/tests/unit/*.log; fail "make check failed"; }
# every unit test of Makefile.am must have run and passed (configure builds
# none without cmocka, and make check would not say so)
unit=$(grep -o 'tests/unit/test_[a-z0-9_]*\(\.sh\)\{0,1\}' "$src/Makefile.am" | sort -u)
npass=0
bad=
for t in $unit; do
	r=$(sed -n 's/^:test-result: //p' "$work/build/$t.trs" 2>/dev/null || true)
	printf '%-36s %s\n' "$t" "${r:-missing}"
	if [[ $r == PASS ]]; then npass=$((npass + 1)); else bad+=" $t"; fi
done
nsys=$(cat "$work"/build/tests/system/*.trs 2>/dev/null | grep -cx ':test-result: SKIP' || true)
echo "debian13.sh: unit tests: $npass of $(wc -w <<<"$unit") passed; system tests: $nsys skipped (RECMESH_SKIP_SYSTEM=1)"
[[ -z $bad ]] || fail "unit tests not passed:$bad"

sub "libFuzzer harnesses (clang): build, then regression inputs and 10000 runs each"
in_chroot "$root" sh -c '"$1/tests/fuzz/build.sh" "$2/fuzz" && bash "$1/tests/fuzz/run.sh" -b "$2/fuzz" -r 10000' \
	sh "$src" "$work" || fail "the fuzz harnesses failed"

sub "Debian package (dpkg-buildpackage -us -uc -b, lintian --fail-on error)"
in_chroot "$root" sh -c 'cd "$1" && DEB_BUILD_OPTIONS=parallel=$2 dpkg-buildpackage -us -uc -b' sh "$src" "$jobs" \
	|| fail "dpkg-buildpackage failed"
deb=$(echo "$work"/recmesh_*.deb)
[[ -f $deb ]] || fail "dpkg-buildpackage made no package"
in_chroot "$root" lintian --fail-on error "$deb" || fail "lintian found errors in $(basename "$deb")"

sub "the package's Depends: the trixie package of every library recmesh links"
# the libraries recmesh links (NEEDED), the package that holds each in the
# chroot, and whether Depends names it
in_chroot "$root" sh -c '
	deb=$1 x=$2/pkgroot
	dpkg-deb -x "$deb" "$x"
	depends=$(dpkg-deb -f "$deb" Depends)
	echo "Depends: $depends"
	bad=0
	for lib in $(objdump -p "$x/usr/bin/recmesh" | awk "\$1 == \"NEEDED\" { print \$2 }"); do
		# where the loader finds it, and the package that holds that file (/lib is /usr/lib)
		path=$(ldd "$x/usr/bin/recmesh" | awk -v l="$lib" "\$1 == l { print \$3 }")
		pkg=$(dpkg -S "*${path#/usr}" 2>/dev/null | sed -n "1s/[:,].*//p")
		if [ -z "$pkg" ]; then
			echo "$lib (${path:-not found}): no package holds it"
			bad=1
			continue
		fi
		case ", $depends," in
		*", $pkg "* | *", $pkg,"*) echo "$lib: $pkg" ;;
		*) echo "$lib ($path): $pkg is not in Depends"; bad=1 ;;
		esac
	done
	exit $bad' sh "$deb" "$work" || fail "the package's Depends lacks a library's package"

sub "install the package into the chroot, run it, purge it"
in_chroot "$root" sh -c '
	set -e
	dpkg -i "$1"
	recmesh --version
	getent passwd recmesh
	# the units where trixie'"'"'s systemd looks for them
	u=$(pkg-config --variable=systemdsystemunitdir systemd)
	for f in recmesh-proxy.service recmesh-mirror.service pdns-recursor.service.d/recmesh-warm.conf; do
		dpkg -L recmesh | grep -qx "$u/$f" || { echo "the package does not install $u/$f"; exit 1; }
	done
	echo "units in $u"
	dpkg --purge recmesh
	! getent passwd recmesh' sh "$deb" || fail "the package did not install, run and purge"

echo "debian13.sh: recmesh builds, passes its unit tests and packages on Debian 13 ($((SECONDS - start)) s)"

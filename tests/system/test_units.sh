#!/usr/bin/env bash
# test_units.sh: every shipped systemd unit (and the Recursor drop-in on top
# of Debian's pdns-recursor.service) scores an exposure of 2.0 or less in
# `systemd-analyze security --offline=yes` and passes `systemd-analyze verify`.
#   tests/system/test_units.sh               the units in contrib/systemd
#   tests/system/test_units.sh --installed   the units a package installed
# systemd need not be PID 1: both commands run offline on a private root
# (--root) holding the units, systemd's own units and stand-in executables.
set -u
[[ -n ${RECMESH_SKIP_SYSTEM:-} ]] && { echo "test_units: skipped (RECMESH_SKIP_SYSTEM)"; exit 77; }
command -v systemd-analyze >/dev/null || { echo "test_units: skipped: no systemd-analyze"; exit 77; }
srcdir=${RECMESH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MAX=2.0
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

root=$(mktemp -d /tmp/test_units.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/lib/systemd" "$root/usr/bin" "$root/usr/sbin" "$root/etc/systemd/system"
ln -s usr/bin "$root/bin"
ln -s usr/lib "$root/lib"
ln -s usr/sbin "$root/sbin"
cp -a /lib/systemd/system "$root/usr/lib/systemd/"
units="$root/usr/lib/systemd/system"
if [[ ${1:-} == --installed ]]; then
	shipped=(/lib/systemd/system/recmesh-*.service)
	dropin=/lib/systemd/system/pdns-recursor.service.d/recmesh-warm.conf
else
	shipped=("$srcdir"/contrib/systemd/*.service)
	dropin=$srcdir/contrib/systemd/pdns-recursor.service.d/recmesh-warm.conf
fi
[[ -e ${shipped[0]} ]] || { echo "FAIL: no units found (${shipped[*]})"; exit 1; }
names=()
for u in "${shipped[@]}"; do
	cp "$u" "$units/"
	names+=("$(basename "$u")")
done
# the drop-in is scored and verified together with the unit it extends
if [[ -f $units/pdns-recursor.service ]]; then
	mkdir -p "$units/pdns-recursor.service.d"
	cp "$dropin" "$units/pdns-recursor.service.d/"
	names+=(pdns-recursor.service)
else
	echo "note: no pdns-recursor.service on this system: the drop-in is not scored"
fi
# verify checks that the commands exist and are executable: stand-ins
for exe in /usr/bin/recmesh /usr/bin/kill /usr/sbin/pdns_recursor; do
	printf '#!/bin/sh\nexit 0\n' >"$root$exe"
	chmod +x "$root$exe"
done

for name in "${names[@]}"; do
	out=$(systemd-analyze security --offline=yes --root="$root" "$name" 2>&1)
	score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' <<<"$out")
	if [[ -z $score ]]; then
		fail "$name: no exposure level in: $(tail -3 <<<"$out")"
	elif awk -v s="$score" -v m="$MAX" 'BEGIN { exit !(s <= m) }'; then
		ok "$name: exposure $score (at most $MAX)"
	else
		fail "$name: exposure $score, more than $MAX; what scores: $(grep '✗' <<<"$out" | head -20)"
	fi
	if vout=$(systemd-analyze verify --man=no --root="$root" "$name" 2>&1); then
		ok "$name: systemd-analyze verify"
	else
		fail "$name: systemd-analyze verify: $vout"
	fi
	# what the node needs from its unit
	if [[ $name == recmesh-* ]]; then
		for want in Type=notify ExecReload= WatchdogSec= User=recmesh StateDirectory=recmesh \
			NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes \
			SystemCallFilter=@system-service RestrictAddressFamilies=; do
			grep -q "^$want" "$units/$name" || fail "$name: no '$want' line"
		done
	fi
done
echo "test_units: ${#names[@]} units, $fails failure(s)"
((fails == 0))

#!/usr/bin/env bash
# test_units.sh: every shipped systemd unit (and the Recursor drop-in on top
# of Debian's pdns-recursor.service: the host's, Debian 12's, and Debian 13's
# and sid's from the chroots of tests/chroots.sh) scores an exposure of 2.0 or
# less in `systemd-analyze security --offline=yes` and passes
# `systemd-analyze verify`.
#   tests/system/test_units.sh               the units in contrib/systemd
#   tests/system/test_units.sh --installed   the units a package installed
# systemd need not be PID 1: both commands run offline on a private root
# (--root) holding the units, systemd's own units and stand-in executables.
# One scenario, units (RM_SCENARIO=units runs it alone, RM_SCENARIO=list lists it);
# the test keeps its own ok, fail and tally: a failure does not stop it.
set -u
[[ -n ${RECMESH_SKIP_SYSTEM:-} ]] && { echo "test_units: skipped (RECMESH_SKIP_SYSTEM)"; exit 77; }
command -v systemd-analyze >/dev/null || { echo "test_units: skipped: no systemd-analyze"; exit 77; }
srcdir=${RECMESH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MAX=2.0
fails=0
opt=${1:-} # --installed or nothing
# the scenarios of lib.sh (rm_scenario, rm_scenarios), without its ok, fail, tally and
# traps (no rm_init): rm_scenarios ends with this test's tally
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
RM_NAME=test_units
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
rm_done() { echo "test_units: $checked units, $fails failure(s)"; }

# mkroot DIR: a private root in DIR with the host's units and, since verify checks
# that the commands exist and are executable, stand-ins for the programs they run
mkroot() {
	mkdir -p "$1/usr/lib/systemd" "$1/usr/bin" "$1/usr/sbin" "$1/etc/systemd/system"
	ln -s usr/bin "$1/bin"
	ln -s usr/lib "$1/lib"
	ln -s usr/sbin "$1/sbin"
	cp -a /lib/systemd/system "$1/usr/lib/systemd/"
	for exe in /usr/bin/recmesh /usr/bin/kill /usr/sbin/pdns_recursor /usr/bin/rec_control; do
		printf '#!/bin/sh\nexit 0\n' >"$1$exe"
		chmod +x "$1$exe"
	done
}
# score ROOT NAME [WHAT]: the exposure of unit NAME in ROOT is at most MAX, and
# systemd-analyze verify passes (WHAT names it in the messages)
score() {
	local root=$1 name=$2 what=${3:-$2} out score vout
	out=$(systemd-analyze security --offline=yes --root="$root" "$name" 2>&1)
	score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' <<<"$out")
	if [[ -z $score ]]; then
		fail "$what: no exposure level in: $(tail -3 <<<"$out")"
	elif awk -v s="$score" -v m="$MAX" 'BEGIN { exit !(s <= m) }'; then
		ok "$what: exposure $score (at most $MAX)"
	else
		fail "$what: exposure $score, more than $MAX; what scores: $(grep '✗' <<<"$out" | head -20)"
	fi
	if vout=$(systemd-analyze verify --man=no --root="$root" "$name" 2>&1); then
		ok "$what: systemd-analyze verify"
	else
		fail "$what: systemd-analyze verify: $vout"
	fi
}

sc_units() {
	root=$tmp/host
	mkroot "$root"
	units="$root/usr/lib/systemd/system"
	if [[ $opt == --installed ]]; then
		shipped=(/lib/systemd/system/recmesh-*.service)
		timers=(/lib/systemd/system/recmesh-*.timer)
		dropin=/lib/systemd/system/pdns-recursor.service.d/recmesh-warm.conf
	else
		shipped=("$srcdir"/contrib/systemd/*.service)
		timers=("$srcdir"/contrib/systemd/*.timer)
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

	for name in "${names[@]}"; do
		score "$root" "$name"
		# what the merger needs: a one-shot run, as the system user, sandboxed as the nodes
		if [[ $name == recmesh-merge.service ]]; then
			for want in Type=oneshot User=recmesh NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes \
				SystemCallFilter=@system-service RestrictAddressFamilies= TimeoutStartSec=; do
				grep -q "^$want" "$units/$name" || fail "$name: no '$want' line"
			done
		# what the node needs from its unit
		elif [[ $name == recmesh-* ]]; then
			for want in Type=notify ExecReload= WatchdogSec= User=recmesh StateDirectory=recmesh \
				NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes \
				SystemCallFilter=@system-service RestrictAddressFamilies=; do
				grep -q "^$want" "$units/$name" || fail "$name: no '$want' line"
			done
		fi
	done
	# each timer verifies and starts a unit that is shipped
	for t in "${timers[@]}"; do
		[[ -e $t ]] || fail "no timer found (${timers[*]})"
		name=$(basename "$t")
		cp "$t" "$units/"
		[[ -f $units/${name%.timer}.service ]] || fail "$name: no ${name%.timer}.service beside it"
		if vout=$(systemd-analyze verify --man=no --root="$root" "$name" 2>&1); then
			ok "$name: systemd-analyze verify"
		else
			fail "$name: systemd-analyze verify: $vout"
		fi
		grep -q '^OnUnitActiveSec=' "$units/$name" || fail "$name: no OnUnitActiveSec= line"
	done
	# The same drop-in on top of Debian 13's and sid's pdns-recursor.service, from the
	# chroots of the Recursor matrix (tests/chroots.sh; skipped, and said so, when one
	# is missing). What the drop-in relies on: the unit's name, Type=notify (so that
	# ExecStartPost runs once the Recursor is ready), a User= (the warm-up runs as that
	# user); sid's unit adds ExecStop=rec_control quit-nicely, which runs in the sandbox
	# the drop-in tightens and must still verify.
	checked=${#names[@]}
	for suite in trixie sid; do
		unit=$("$srcdir/tests/chroots.sh" --print-dir "$suite")/lib/systemd/system/pdns-recursor.service
		if [[ ! -f $unit ]]; then
			echo "note: no $unit (tests/chroots.sh $suite makes it): the drop-in is not scored on $suite's unit"
			continue
		fi
		r=$tmp/$suite
		mkroot "$r"
		cp "$unit" "$r/usr/lib/systemd/system/pdns-recursor.service"
		mkdir -p "$r/usr/lib/systemd/system/pdns-recursor.service.d"
		cp "$dropin" "$r/usr/lib/systemd/system/pdns-recursor.service.d/"
		for want in Type=notify User=; do
			grep -q "^$want" "$unit" || fail "$suite's pdns-recursor.service: no '$want' line, which the drop-in relies on"
		done
		score "$r" pdns-recursor.service "pdns-recursor.service of $suite with the drop-in"
		checked=$((checked + 1))
	done
}

rm_scenario units "every shipped unit (and the Recursor drop-in) scores an exposure of 2.0 or less and verifies"
rm_scenario_listing

tmp=$(mktemp -d /tmp/test_units.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

rm_scenarios
((fails == 0))

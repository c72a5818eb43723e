#!/usr/bin/env bash
# build.sh: installs the dependencies and builds recmesh in build/ (out of
# tree) unless an up-to-date build is there. Prints the binary's path.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh tests/deps.sh >&2
if [[ ! -x build/recmesh ]] || [[ -n $(find src configure.ac Makefile.am -newer build/recmesh -print -quit) ]]; then
	[[ -f Makefile ]] && make distclean >/dev/null
	[[ -x configure ]] || autoreconf -fi >&2
	mkdir -p build
	(cd build && { [[ -f Makefile ]] || "$top"/configure -q >&2; } && make -j"$(nproc)" >&2)
fi
echo "$top/build/recmesh"

#!/usr/bin/env bash
# layers.sh: src/ is layered (see Makefile.am and doc/HACKING.md). Checks:
#  - every source file under src/ sits in a layer's folder (one with a local.mk);
#  - a file includes recmesh headers by their layer ("layer/file.h"), and only
#    headers of its own layer or of the layers its local.mk's "Layer uses:" names;
#  - the data path's libraries (RECMESH_DATAPATH_LIBS, built by make) need no
#    NATS symbol: none of libnats (nats*, js*, kv*, stan*) and none that the
#    nats layer's library (RECMESH_NATS_LIB) defines, and no file of theirs
#    includes <nats/...>;
#  - doc/HACKING.md's file map names every file of src/ under its folder, and only those.
# Run by make check; RECMESH_SRCDIR is the source tree (default: this script's).
set -uo pipefail
SRC=${RECMESH_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
fails=0
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

declare -A uses
layers=()
for mk in "$SRC"/src/*/local.mk; do
	l=$(basename "$(dirname "$mk")")
	line=$(sed -n 's/^# Layer uses: *//p' "$mk")
	[[ -n $line ]] || { bad "$mk states no 'Layer uses:' line"; continue; }
	[[ $line == "(none)" ]] && line=
	uses[$l]=" $l $line "
	layers+=("$l")
done
echo "layers: ${layers[*]}"

while IFS= read -r f; do
	rel=${f#"$SRC"/src/}
	l=${rel%%/*}
	if [[ $rel != */* || -z ${uses[$l]+x} ]]; then
		bad "src/$rel is not in a layer's folder"
		continue
	fi
	while IFS=: read -r n inc; do
		h=$(sed -n 's/^#include "\([^"]*\)".*/\1/p' <<<"$inc")
		[[ $h == config.h ]] && continue
		if [[ $h != */* ]]; then
			bad "src/$rel:$n includes \"$h\" without its layer"
			continue
		fi
		hl=${h%%/*}
		[[ -n ${uses[$hl]+x} ]] || { bad "src/$rel:$n includes \"$h\": no layer '$hl'"; continue; }
		[[ ${uses[$l]} == *" $hl "* ]] || bad "src/$rel:$n: layer '$l' includes \"$h\" of layer '$hl', which it may not use (it uses:${uses[$l]})"
	done < <(grep -n '^#include "' "$f")
done < <(find "$SRC/src" -name '*.[ch]' | sort)

# doc/HACKING.md's file map: every file of src/ in it, and no file that is not there
map=$SRC/doc/HACKING.md
if [[ ! -f $map ]]; then
	bad "doc/HACKING.md not found"
else
	# the map's files by folder: a row **`src/LAYER/`** opens a folder; the first cell of the
	# rows under it names its files: `a.c`, `b.c/.h` (both), several per row
	named=$(sed -n '/^## File map/,/^## [^F]/p' "$map" | awk -F'|' '
		$2 ~ /^ \*\*`src\/[a-z]+\/`\*\*/ { dir = $2; sub(/^ \*\*`src\//, "", dir); sub(/`.*/, "", dir); next }
		/^\| `/ && dir != "" {
			cell = $2
			while (match(cell, /`[^`]*[.][^`]*`/)) {
				f = substr(cell, RSTART + 1, RLENGTH - 2)
				cell = substr(cell, RSTART + RLENGTH)
				if (f ~ /\.c\/\.h$/) { sub(/\.c\/\.h$/, "", f); print dir f ".c"; print dir f ".h" }
				else print dir f
			}
		}' | sort -u)
	[[ -n $named ]] || bad "doc/HACKING.md: no file map rows found under '## File map'"
	files=$(cd "$SRC/src" && find . \( -name '*.[ch]' -o -name '*.proto' \) ! -name '*.pb-c.[ch]' -printf '%P\n' | sort -u)
	for f in $(comm -23 <(echo "$files") <(echo "$named")); do bad "src/$f is not in doc/HACKING.md's file map (under its folder)"; done
	for f in $(comm -13 <(echo "$files") <(echo "$named")); do bad "doc/HACKING.md's file map names src/$f, which is not there"; done
	echo "doc/HACKING.md's file map: checked against $(wc -l <<<"$files") files of src/, by folder"
fi

# the data path: no NATS header, no NATS symbol
datapath=()
for lib in ${RECMESH_DATAPATH_LIBS:-}; do
	l=$(basename "$(dirname "$lib")")
	datapath+=("$l")
	if grep -ln '^#include <nats/' "$SRC/src/$l"/*.[ch] 2>/dev/null; then
		bad "the data path's layer '$l' includes a NATS header"
	fi
done
if [[ -z ${RECMESH_DATAPATH_LIBS:-} || -z ${RECMESH_NATS_LIB:-} ]]; then
	bad "RECMESH_DATAPATH_LIBS and RECMESH_NATS_LIB are not set (run through make check)"
else
	ours=$(nm --defined-only -g "$RECMESH_NATS_LIB" | awk 'NF == 3 && $2 ~ /[TDBR]/ { print $3 }' | sort -u)
	[[ -n $ours ]] || bad "no symbol defined in $RECMESH_NATS_LIB"
	for lib in $RECMESH_DATAPATH_LIBS; do
		[[ -f $lib ]] || { bad "$lib not built"; continue; }
		undef=$(nm -u "$lib" | awk '{ print $NF }' | sort -u)
		hits=$(grep -E '^(nats|js|kv|stan)[A-Z_]' <<<"$undef")
		hits+=$'\n'$(comm -12 <(echo "$undef") <(echo "$ours"))
		hits=$(grep -v '^$' <<<"$hits" | sort -u | tr '\n' ' ')
		[[ -z $hits ]] || bad "$(basename "$lib") (data path) uses NATS symbols: $hits"
	done
	echo "data path libraries without NATS symbols: ${datapath[*]} ($(wc -w <<<"$ours") symbols of the nats layer checked)"
fi
if ((fails)); then
	echo "layers: $fails problem(s)"
	exit 1
fi
echo "layers: every include follows the layers' uses"

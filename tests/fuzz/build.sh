#!/bin/sh
# build.sh: builds the libFuzzer harnesses of tests/fuzz/ with clang, out of
# tree, without touching the normal (gcc, autotools) build.
#
#   tests/fuzz/build.sh [BUILD_DIR]       (default: build-fuzz in the source tree)
#
# Every src/LAYER/*.c but main.c is compiled with coverage instrumentation and
# AddressSanitizer + UndefinedBehaviorSanitizer into one archive; the
# protobuf decoder is generated from src/proxy/dnsmessage.proto into BUILD_DIR;
# each tests/fuzz/fuzz_*.c is linked with libFuzzer into BUILD_DIR/fuzz_*.
# A source file is recompiled when it or any header of src/ is newer than
# its object.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$src/build-fuzz}
mkdir -p "$out/obj" "$out/gen"
out=$(cd "$out" && pwd)
CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "build.sh: $CC not found (tests/deps.sh installs clang and its runtime)" >&2; exit 1; }
command -v protoc-c >/dev/null || { echo "build.sh: protoc-c not found (apt-get install protobuf-c-compiler)" >&2; exit 1; }

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-g -O1 -std=gnu11 -Wall -Wno-unused-parameter $SAN"
PKGS="ldns libnats libprotobuf-c libcrypto"
CPPFLAGS="-I$out -I$out/gen -I$src/src $(pkg-config --cflags $PKGS 2>/dev/null || true)"
LIBS="$(pkg-config --libs $PKGS 2>/dev/null || echo -lldns -lnats -lprotobuf-c -lcrypto) -lev -lm -lpthread"

# what configure would have put in config.h for these sources
ver=$(sed -n 's/^AC_INIT(\[recmesh\], \[\([^]]*\)\].*/\1/p' "$src/configure.ac")
cat >"$out/config.h.new" <<H
/* config.h for the fuzz build (tests/fuzz/build.sh) */
#define _GNU_SOURCE 1
#define PACKAGE "recmesh"
#define PACKAGE_NAME "recmesh"
#define PACKAGE_VERSION "${ver:-0}"
#define PACKAGE_STRING "recmesh ${ver:-0}"
#define VERSION "${ver:-0}"
#define HAVE_RECVMMSG 1
#define HAVE_SENDMMSG 1
#define HAVE_ACCEPT4 1
H
cmp -s "$out/config.h.new" "$out/config.h" 2>/dev/null && rm "$out/config.h.new" || mv "$out/config.h.new" "$out/config.h"

mkdir -p "$out/gen/proxy"
if [ ! -f "$out/gen/proxy/dnsmessage.pb-c.c" ] || [ "$src/src/proxy/dnsmessage.proto" -nt "$out/gen/proxy/dnsmessage.pb-c.c" ]; then
	protoc-c --proto_path="$src/src/proxy" --c_out="$out/gen/proxy" "$src/src/proxy/dnsmessage.proto"
fi

# the newest header: an object older than it is rebuilt
newest=$(ls -t "$src"/src/*/*.h "$out/config.h" | head -n 1)
jobs=$(nproc 2>/dev/null || echo 2)
list=$out/obj/list
: >"$list"
for f in "$src"/src/*/*.c "$out/gen/proxy/dnsmessage.pb-c.c"; do
	base=$(basename "$f" .c)
	[ "$base" = main ] && continue
	o=$out/obj/$base.o
	echo "$o" >>"$list"
	if [ ! -f "$o" ] || [ "$f" -nt "$o" ] || [ "$newest" -nt "$o" ]; then
		printf '%s\n%s\n' "$f" "$o"
	fi
done | xargs -r -n 2 -P "$jobs" sh -c 'echo "  CC     $(basename "$0")"; exec '"$CC $CFLAGS -fsanitize=fuzzer-no-link $CPPFLAGS"' -c "$0" -o "$1"'
lib=$out/librecmesh-fuzz.a
stale=
for o in $(cat "$list"); do
	[ -f "$lib" ] && [ ! "$o" -nt "$lib" ] || stale=1
done
if [ -n "$stale" ]; then
	rm -f "$lib"
	# shellcheck disable=SC2046
	ar rcs "$lib" $(cat "$list")
fi

for h in "$src"/tests/fuzz/fuzz_*.c; do
	name=$(basename "$h" .c)
	if [ ! -f "$out/$name" ] || [ "$h" -nt "$out/$name" ] || [ "$lib" -nt "$out/$name" ] || [ "$src/tests/fuzz/fuzz.h" -nt "$out/$name" ]; then
		echo "  CCLD   $name"
		# shellcheck disable=SC2086
		$CC $CFLAGS -fsanitize=fuzzer $CPPFLAGS "$h" "$lib" $LIBS -o "$out/$name"
	fi
done


# the seed writer (not a fuzzer): run by hand, see mkseeds.c
if [ ! -f "$out/mkseeds" ] || [ "$src/tests/fuzz/mkseeds.c" -nt "$out/mkseeds" ] || [ "$lib" -nt "$out/mkseeds" ]; then
	echo "  CCLD   mkseeds"
	# shellcheck disable=SC2086
	$CC $CFLAGS $CPPFLAGS "$src/tests/fuzz/mkseeds.c" "$lib" $LIBS -o "$out/mkseeds"
fi
echo "build.sh: harnesses in $out"

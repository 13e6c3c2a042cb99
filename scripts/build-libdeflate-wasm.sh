#!/bin/sh
# Rebuilds vendor/libdeflate/libdeflate.wasm from pinned libdeflate source and vendor/libdeflate/glue.c.
#
# The .wasm is committed and its sha256 is pinned in src/oci/libdeflate.ts, because its bytes decide
# every gzip layer digest. After a rebuild, update the pinned hash; if the pinned layer digests in
# test/unit/gzip-layers.test.ts move too, bump LAYER_FORMAT_VERSION (src/layers/layer.ts).
# The bytes depend on the compiler too; the committed file was built with Debian 12's clang 14:
#   apt-get install -y --no-install-recommends clang lld
# No SIMD and no libc: WebAssembly without SIMD has no CPU-dependent paths, so the output is the same
# on every machine.
#
# Usage: scripts/build-libdeflate-wasm.sh [libdeflate-checkout]   (default: clones the pinned tag)
set -eu

TAG=v1.25
COMMIT=c8c56a20f8f621e6a966b716b31f1dedab6a41e3
REPO=https://github.com/ebiggers/libdeflate
HERE=$(cd "$(dirname "$0")/.." && pwd)
OUT="$HERE/vendor/libdeflate/libdeflate.wasm"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ $# -ge 1 ]; then
	git -C "$1" archive "$COMMIT" | tar -x -C "$WORK"
else
	git clone --quiet --branch "$TAG" --depth 1 "$REPO" "$WORK/clone"
	git -C "$WORK/clone" archive "$COMMIT" | tar -x -C "$WORK"
fi

# Two patches. libdeflate sizes its bit buffer and word compares by size_t, 32 bits on wasm32, though
# WebAssembly has native 64-bit integers; 64-bit words are ~5% faster and give the same bytes
# (checked: equal output with and without, and equal to a native x86-64 build).
cd "$WORK"
grep -q '^typedef size_t machine_word_t;$' common_defs.h
sed -i 's/^typedef size_t machine_word_t;$/typedef unsigned long long machine_word_t;/' common_defs.h
# And libdeflate_deflate_compress_piece: a piece of one DEFLATE stream, ending with a sync flush
# unless it is the last, so a layer is one gzip member (git apply refuses a patch that does not fit).
git apply "$HERE/vendor/libdeflate/piece-sync-flush.patch"

# -O2 for speed; the prefix map keeps the build directory out of the binary.
# Only the DEFLATE compressor and crc32 are linked (the glue exports nothing else).
clang --target=wasm32 -O2 -nostdlib -ffreestanding -DFREESTANDING \
	-mno-simd128 -mno-bulk-memory -ffile-prefix-map="$WORK"=. -I "$WORK" \
	-Wl,--no-entry -Wl,--strip-all -Wl,-z,stack-size=65536 \
	-o "$WORK/libdeflate.wasm" \
	"$HERE/vendor/libdeflate/glue.c" lib/deflate_compress.c lib/crc32.c lib/utils.c
cp "$WORK/libdeflate.wasm" "$OUT"
sha256sum "$OUT"

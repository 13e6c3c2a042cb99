/*
 * strata's WebAssembly face of libdeflate: raw DEFLATE pieces of one stream, and CRC-32.
 *
 * Freestanding (no libc): libdeflate brings its own memset/memcpy/memmove/memcmp when built with
 * -DFREESTANDING, and memory comes from the bump allocator below. Nothing is ever freed: an instance
 * holds at most one compressor per level plus the buffers its caller asks for once, so the heap only
 * grows to a fixed size.
 */
#include "libdeflate.h"

extern unsigned char __heap_base;
static unsigned long heap_top = (unsigned long)&__heap_base;

#define PAGE 65536UL

static void *bump_malloc(size_t n)
{
	unsigned long at = (heap_top + 15) & ~15UL;
	unsigned long end = at + n;
	unsigned long have = __builtin_wasm_memory_size(0) * PAGE;

	/* 32-bit addresses: a size past the end would wrap around into memory already in use. */
	if (end < at)
		return 0;
	if (end > have &&
	    __builtin_wasm_memory_grow(0, (end - have + PAGE - 1) / PAGE) == (size_t)-1)
		return 0;
	heap_top = end;
	return (void *)at;
}

static void bump_free(void *p)
{
	(void)p;
}

static struct libdeflate_compressor *compressors[13];

/* A buffer of n bytes that lives as long as the instance; 0 when memory runs out. */
__attribute__((export_name("strata_alloc")))
void *strata_alloc(size_t n)
{
	return bump_malloc(n);
}

/* The compressor for a level 0..12, made on first use; 0 on a bad level or no memory. */
static struct libdeflate_compressor *compressor(int level)
{
	struct libdeflate_options opts = { sizeof(opts), bump_malloc, bump_free };

	if (level < 0 || level > 12)
		return 0;
	if (!compressors[level])
		compressors[level] = libdeflate_alloc_compressor_ex(level, &opts);
	return compressors[level];
}

/*
 * The most bytes a piece of n input bytes can take, at any level (libdeflate allows no compressor
 * here): libdeflate's bound and the 5 bytes a sync flush can add (piece-sync-flush.patch).
 */
__attribute__((export_name("strata_deflate_bound")))
size_t strata_deflate_bound(size_t n)
{
	return libdeflate_deflate_compress_bound(0, n) + 5;
}

/*
 * Raw DEFLATE of in[0..n) into out: ends the stream if final, else ends with a sync flush so the next
 * piece can follow. Its size, or 0 on failure.
 */
__attribute__((export_name("strata_deflate_piece")))
size_t strata_deflate_piece(int level, const void *in, size_t n, void *out, size_t avail, int final)
{
	struct libdeflate_compressor *c = compressor(level);

	return c ? libdeflate_deflate_compress_piece(c, in, n, out, avail, final) : 0;
}

/* gzip's CRC-32 of in[0..n), continuing from crc (0 to start). */
__attribute__((export_name("strata_crc32")))
uint32_t strata_crc32(uint32_t crc, const void *in, size_t n)
{
	return libdeflate_crc32(crc, in, n);
}

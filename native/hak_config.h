/* hak_config.h -- every tunable of the allocator is a named build flag.
 *
 * Defaults are those of the Phase 6-B investigation report.  Override with
 * -DNAME=value; the built library reports the values it was compiled with
 * (hak_config_json), so no other code retypes them.
 */
#ifndef HAK_CONFIG_H
#define HAK_CONFIG_H

/* ---- router thresholds -------------------------------------------------- */
/* Tiny is tried first: size <= HAK_TINY_MAX goes to Tiny.  2047 because the
 * reference's Tiny keeps a 1-byte class header in front of C7 (2048 B). */
#ifndef HAK_TINY_MAX
#define HAK_TINY_MAX 2047
#endif
/* Then HAK_MID_MIN <= size <= HAK_MID_MAX goes to Mid MT; anything else to Large. */
#ifndef HAK_MID_MIN
#define HAK_MID_MIN 1024
#endif
#ifndef HAK_MID_MAX
#define HAK_MID_MAX 32768
#endif

/* ---- Mid free path: the phase under investigation ----------------------- */
/* Exactly one of:
 *   HAK_MID_FREE_REGISTRY  Phase 6-A: TLS segment ranges, else a mutex-guarded
 *                          global registry lookup; remote frees go back to the owner.
 *   HAK_MID_FREE_HEADER    Phase 6-B: a header in front of every Mid block is read
 *                          on every free; remote frees are leaked and counted.
 *   HAK_MID_FREE_CHUNK     Phase 6-D: the class and the owner come from the chunk
 *                          the segment map found (no header, no registry): a local
 *                          free is lock-free from any of the thread's chunks, a
 *                          remote free goes to the owner's lock-free list (as 6-C). */
#if defined(HAK_MID_FREE_REGISTRY) + defined(HAK_MID_FREE_HEADER) + defined(HAK_MID_FREE_CHUNK) != 1
#error "define exactly one of HAK_MID_FREE_REGISTRY, HAK_MID_FREE_HEADER or HAK_MID_FREE_CHUNK"
#endif
/* With the header free path only:
 *   HAK_MID_REMOTE_LOCKFREE  Phase 6-C: a remote free pushes the block onto
 *                            its owner's lock-free list (an atomic stack per
 *                            class), which the owner drains when it runs dry;
 *                            nothing is leaked and no mutex is taken. */
#if defined(HAK_MID_REMOTE_LOCKFREE) && !defined(HAK_MID_FREE_HEADER)
#error "HAK_MID_REMOTE_LOCKFREE goes with HAK_MID_FREE_HEADER (6-A and 6-D already return remote frees)"
#endif

#ifndef HAK_VARIANT_NAME
#if defined(HAK_MID_FREE_REGISTRY)
#define HAK_VARIANT_NAME "hak-6a"
#elif defined(HAK_MID_REMOTE_LOCKFREE)
#define HAK_VARIANT_NAME "hak-6c"
#elif defined(HAK_MID_FREE_CHUNK)
#define HAK_VARIANT_NAME "hak-6d"
#else
#define HAK_VARIANT_NAME "hak-6b"
#endif
#endif

/* Magic value in every 6-B Mid header; a free whose header lacks it is ignored. */
#ifndef HAK_MID_MAGIC
#define HAK_MID_MAGIC 0x4D49444Du /* "MIDM" */
#endif

/* Bytes of padding after every Mid block, with no header in them: a control
 * variant that places blocks the way 6-B's header does (stride = class + 16)
 * without reading anything, to tell the header's cost from its side effect on
 * block placement (power-of-two strides map every block to the same cache sets).
 * 0 in the phase variants.  A multiple of 16, so user pointers stay aligned. */
#ifndef HAK_MID_BLOCK_PAD
#define HAK_MID_BLOCK_PAD 0
#endif

/* Layout (native/layout.c, linked first): HAK_LAYOUT_CODE_PAD, HAK_LAYOUT_DATA_PAD,
 * HAK_MID_CHUNK_OFFSET and HAK_HEAP_OFFSET shift where code, data, Mid blocks and
 * thread heaps land, and change nothing the code does; all 0 by default.  A layout
 * build draws them (reportgen.layouts). */

/* A known slowdown, for checking that a measurement can see one: this many
 * iterations of a busy loop (a volatile counter) at the start of every Mid free.
 * 0 (none) in every declared variant; tests build it on top of one. */
#ifndef HAK_MID_FREE_SPIN
#define HAK_MID_FREE_SPIN 0
#endif

/* ---- instrumentation ----------------------------------------------------- */
/* 1: every allocation, free, lookup and mutex acquisition is counted (routing,
 * counters, hypotheses).  0: hot-path counters compiled out, for timed runs. */
#ifndef HAK_STATS
#define HAK_STATS 1
#endif
/* 1: internal assertions on the free paths' invariants (_hak_assert in
 * hak_internal.h) are compiled in; the asan build kind sets it.  0 (every
 * other build): they are not, and cost nothing. */
#ifndef HAK_DEBUG
#define HAK_DEBUG 0
#endif

/* ---- memory layout ------------------------------------------------------ */
/* Tiny and Mid carve blocks from aligned segments of 2^HAK_SEGMENT_SHIFT bytes
 * (one size class and one owner per segment); free() finds a pointer's pool
 * from its segment through the segment map, so a foreign pointer is ignored. */
#ifndef HAK_SEGMENT_SHIFT
#define HAK_SEGMENT_SHIFT 22 /* 4 MiB */
#endif
/* Smallest Tiny class is 2^HAK_TINY_MIN_SHIFT bytes (16: malloc's alignment). */
#ifndef HAK_TINY_MIN_SHIFT
#define HAK_TINY_MIN_SHIFT 4
#endif
/* Tiny classes C0..C7: 16 .. 2048 bytes. */
#ifndef HAK_TINY_CLASSES
#define HAK_TINY_CLASSES 8
#endif
/* Initial capacity (entries) of the 6-A chunk registry; it doubles as needed. */
#ifndef HAK_REGISTRY_INITIAL
#define HAK_REGISTRY_INITIAL 256
#endif
/* Address bits the segment map covers (x86-64 / aarch64 user space: 47/48). */
#ifndef HAK_ADDRESS_BITS
#define HAK_ADDRESS_BITS 48
#endif

/* ---- Large -------------------------------------------------------------- */
/* Large blocks (sizes above Mid, and alignments the pools cannot give) are
 * page-granular spans carved from Large segments of 2^HAK_LARGE_SEGMENT_SHIFT
 * bytes (several segment-map slots each), kept on free-span bins after free
 * and reused; a block of HAK_LARGE_HUGE_MIN bytes or more gets a mapping of
 * its own, which realloc grows and shrinks with mremap. */
#ifndef HAK_LARGE_SEGMENT_SHIFT
#define HAK_LARGE_SEGMENT_SHIFT 25 /* 32 MiB */
#endif
#ifndef HAK_LARGE_HUGE_MIN
#define HAK_LARGE_HUGE_MIN ((size_t)4 << 20)
#endif
/* Free pages of Large segments still holding data are given back to the
 * system (madvise MADV_DONTNEED) once they add up to more than this. */
#ifndef HAK_LARGE_DIRTY_MAX
#define HAK_LARGE_DIRTY_MAX ((size_t)32 << 20)
#endif
/* Entirely free Large segments kept mapped for reuse; one more is unmapped. */
#ifndef HAK_LARGE_EMPTY_KEEP
#define HAK_LARGE_EMPTY_KEEP 1
#endif
/* Freed huge blocks kept mapped for reuse (the mmap + page faults of a new
 * mapping cost microseconds): at most this many bytes in all, each at most
 * half of it; a bigger block, or one more, is unmapped at once. */
#ifndef HAK_LARGE_HUGE_CACHE
#define HAK_LARGE_HUGE_CACHE ((size_t)32 << 20)
#endif
#ifndef HAK_LARGE_HUGE_CACHE_COUNT
#define HAK_LARGE_HUGE_CACHE_COUNT 4
#endif
/* A Large block that realloc has to move to grow gets 1/HAK_LARGE_GROW_SLACK
 * more than asked, so a buffer grown in small steps moves O(log n) times. */
#ifndef HAK_LARGE_GROW_SLACK
#define HAK_LARGE_GROW_SLACK 4
#endif

/* ---- invalid frees ------------------------------------------------------ */
/* What a free (or realloc) of a pointer hak did not hand out, or has already
 * taken back, does: 1 = one line on stderr and abort(), as glibc does;
 * 0 = count it (invalid_frees, double_frees, foreign_frees) and go on.  The
 * environment variable HAK_INVALID_FREE=abort|count overrides it at start-up,
 * hak_invalid_free_mode() at run time. */
#ifndef HAK_INVALID_FREE_ABORT
#define HAK_INVALID_FREE_ABORT 1
#endif

/* ---- checks ------------------------------------------------------------- */
#define _HAK_IS_POW2(x) ((x) > 0 && (((x) & ((x)-1)) == 0))
#if !_HAK_IS_POW2(HAK_MID_MIN) || !_HAK_IS_POW2(HAK_MID_MAX) || HAK_MID_MIN > HAK_MID_MAX
#error "HAK_MID_MIN and HAK_MID_MAX must be powers of two with MID_MIN <= MID_MAX"
#endif
#if HAK_TINY_MAX < 0 || HAK_TINY_MAX > (1 << (HAK_TINY_MIN_SHIFT + HAK_TINY_CLASSES - 1))
#error "HAK_TINY_MAX must fit in the largest Tiny class"
#endif
#if HAK_MID_BLOCK_PAD < 0 || HAK_MID_BLOCK_PAD % 16 != 0
#error "HAK_MID_BLOCK_PAD must be a non-negative multiple of 16"
#endif
#if HAK_LARGE_SEGMENT_SHIFT < HAK_SEGMENT_SHIFT || HAK_LARGE_SEGMENT_SHIFT > 30
#error "a Large segment is a whole number of segments (and at most 1 GiB)"
#endif
#if HAK_MID_MAX * 8 > (1 << HAK_SEGMENT_SHIFT)
#error "a segment must hold at least 8 blocks of the largest Mid class"
#endif

#endif

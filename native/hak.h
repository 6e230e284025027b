/* hak.h -- public interface of the "hak" allocator under investigation.
 *
 * ---- variants ----------------------------------------------------------
 * One code base; a variant is a set of build flags (reportgen/variants.py),
 * never a copy of the code.  They differ only in the Mid pool's free path
 * (mid.c, `_hak_mid_free`):
 *   hak-6a        HAK_MID_FREE_REGISTRY (Phase 6-A).  Mid chunks are
 *                 registered in a global registry; a free inside the caller's
 *                 current chunk of that class is local and lock-free, any
 *                 other Mid pointer takes a mutex-guarded registry lookup, and
 *                 a block owned by another thread goes back to its owner's
 *                 lock-free remote list.
 *   hak-6b        HAK_MID_FREE_HEADER (Phase 6-B).  A 16-byte header (class
 *                 index, address-bound magic) in front of every Mid block is
 *                 read on every free; a local free is lock-free, a remote free
 *                 is not implemented: the block is leaked and counted
 *                 (leaked_blocks, leaked_bytes).
 *   hak-6c        HAK_MID_FREE_HEADER + HAK_MID_REMOTE_LOCKFREE (Phase 6-C).
 *                 6-B's header free, and a remote free pushes the block onto
 *                 its owner's lock-free list: nothing leaked, no mutex.
 *   hak-6a-pad16  HAK_MID_FREE_REGISTRY + HAK_MID_BLOCK_PAD=16: the control
 *                 for 6-B.  6-A's free path, with blocks placed where 6-B's
 *                 are (stride = class size + 16) and no header read, to tell
 *                 the header's cost from its effect on block placement.
 *   hak-6d        HAK_MID_FREE_CHUNK (Phase 6-D).  No header, no registry: the
 *                 class and the owner come from the block's chunk, so a local
 *                 free is lock-free from any of the thread's chunks and a
 *                 remote free goes to the owner's lock-free list (as 6-C).
 *   hak-6d-pad16  HAK_MID_FREE_CHUNK + HAK_MID_BLOCK_PAD=16: 6-D with its
 *                 blocks where 6-B's and 6-C's are, so against 6-C the only
 *                 difference left is the header (written and read).
 * Tiny (power-of-two classes up to HAK_TINY_MAX) and Large are the same in
 * every variant.  hak_config_json reports the variant and every flag.
 *
 * ---- build flags (hak_config.h has them all, with their defaults) --------
 *   HAK_STATS=0     hot-path counters compiled out (the "timed" build kind);
 *                   1 (default): every allocation, free, lookup, mutex counted.
 *   HAK_DEBUG=1     internal assertions on the free paths' invariants (the
 *                   "asan" build kind, with -fsanitize=address,undefined);
 *                   0 (default): none, and no code for them.
 *   HAK_PRELOAD     also export malloc, free, calloc, realloc and
 *                   malloc_usable_size (the LD_PRELOAD library).
 *   thresholds      HAK_TINY_MAX, HAK_MID_MIN, HAK_MID_MAX (routing),
 *                   HAK_SEGMENT_SHIFT, HAK_MID_MAGIC, HAK_MID_BLOCK_PAD.
 *   Large           HAK_LARGE_SEGMENT_SHIFT (span segments), HAK_LARGE_HUGE_MIN
 *                   (own mapping from there), HAK_LARGE_DIRTY_MAX (dirty
 *                   bytes kept before madvise), HAK_LARGE_EMPTY_KEEP (empty
 *                   segments kept), HAK_LARGE_HUGE_CACHE(_COUNT) (freed huge
 *                   mappings kept), HAK_LARGE_GROW_SLACK (growth slack).
 *   HAK_INVALID_FREE_ABORT  the default of the invalid-free mode (1: abort).
 * Environment: HAK_INVALID_FREE=count|abort chooses what an invalid free
 * does, read once before the first block (see "allocation" below).
 *
 * ---- API ---------------------------------------------------------------
 * The ctypes library exports the hak_* functions below: the malloc family,
 * introspection (pool, footprint, route, configuration) and counters.  The
 * LD_PRELOAD library (HAK_PRELOAD) also exports the standard malloc family
 * as aliases of them.
 *
 * Large blocks (above Mid, or aligned beyond what Tiny gives) are runs of
 * pages in shared Large segments, reused after free and given back to the
 * system (madvise, munmap) when idle; blocks of HAK_LARGE_HUGE_MIN bytes or
 * more have a mapping of their own.  realloc grows and shrinks them in place
 * where it can (mremap for the huge ones).  A successful call leaves errno
 * alone.
 *
 * Internal layout: hak_internal.h (types, inline helpers, _hak_assert),
 * hak_atomic.h (the one spelling of branch hints and atomics), hak_config.h
 * (flags); router.c (entry points), tiny.c, mid.c, large.c (pools), heap.c,
 * segment.c, stats.c, preload.c.
 */
#ifndef HAK_H
#define HAK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- allocation ------------------------------------------------------- */
/* Freeing (or reallocating) a pointer hak did not hand out, or has already
 * taken back -- a double free, a pointer into a block or a block never
 * handed out, a stack or static address -- from any thread, in any pool, is
 * detected and reported as glibc does: one line on stderr ("hak: free():
 * double free detected (0x...)", "hak: free(): invalid pointer (0x...)") and
 * abort().  HAK_INVALID_FREE=count in the environment (or
 * hak_invalid_free_mode) counts it instead (invalid_frees, double_frees,
 * foreign_frees) and leaves the block alone; realloc then returns NULL with
 * errno EINVAL.  Either way no block is ever on two free lists.
 *
 * Detection is exact for a block freed and freed again (whatever thread
 * frees), for pointers outside hak's memory and for pointers that are not a
 * block's start or lie past what was ever handed out.  It is not promised
 * when the program writes into a block after freeing it (use after free)
 * or when two threads free the same block at the same instant, one of them
 * its owner. */
void*  hak_malloc(size_t size);
void   hak_free(void* ptr);
void*  hak_calloc(size_t count, size_t size);
void*  hak_realloc(void* ptr, size_t size);
void*  hak_memalign(size_t alignment, size_t size);  /* NULL+EINVAL on a bad alignment */
size_t hak_usable_size(const void* ptr);             /* 0 for a pointer that is not a live block */

#define HAK_INVALID_FREE_MODE_QUERY 0
#define HAK_INVALID_FREE_MODE_ABORT 1
#define HAK_INVALID_FREE_MODE_COUNT 2
/* Set what an invalid free does (ABORT or COUNT; QUERY changes nothing);
 * returns the mode in force before the call. */
int    hak_invalid_free_mode(int mode);

/* ---- introspection ---------------------------------------------------- */
/* Which pool a live pointer belongs to: 0 = not hak's, 1 = tiny, 2 = mid, 3 = large. */
int    hak_pool_of(const void* ptr);
/* Bytes a request of `size` really occupies in its pool (block stride,
 * header included); 0 when the request would go to Large. */
size_t hak_block_footprint(size_t size);
/* Pool a request of `size` is routed to (1 tiny, 2 mid, 3 large): the
 * router's static decision, from the compiled thresholds. */
int    hak_route(size_t size);

/* Thresholds, size classes, flags and variant name as one JSON object.
 * Returns the length written (excluding NUL), or the length needed. */
size_t hak_config_json(char* buf, size_t cap);

/* ---- counters --------------------------------------------------------- */
/* Counters are per thread (increments on the thread's own heap, no lock) and
 * summed over every heap, live or abandoned, on read; every counter only
 * grows.  hak_stats_reset is an epoch: it records the current sums, and later
 * reads report what was counted since.  So a reset while other threads
 * allocate never undoes their counting: an event that races with the reset
 * lands in one epoch or the next, never in neither, and no counter reads
 * negative.  (Counters that must agree with each other, allocs and frees
 * say, agree exactly only when the reset and the read are made while no
 * other thread allocates.)  os_reserved_bytes is a level (bytes mapped now),
 * not reset.  invalid_frees counts frees diagnosed invalid (with
 * HAK_INVALID_FREE=count), double_frees and foreign_frees (not hak's memory)
 * the kinds among them. */
size_t hak_stats_json(char* buf, size_t cap);   /* one JSON object, same contract as above */
void   hak_stats_reset(void);

#ifdef __cplusplus
}
#endif
#endif

/* hak.h -- public interface of the "hak" allocator under investigation.
 *
 * One code base, several variants: the Mid pool's free path is chosen at
 * build time (HAK_MID_FREE_REGISTRY for Phase 6-A, HAK_MID_FREE_HEADER for
 * Phase 6-B).  Every tunable is a named build flag (see hak_config.h).
 *
 * The ctypes library exports the hak_* functions below; the LD_PRELOAD
 * library (built with HAK_PRELOAD) additionally exports the standard
 * malloc family as aliases of them.
 */
#ifndef HAK_H
#define HAK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- allocation ------------------------------------------------------- */
void*  hak_malloc(size_t size);
void   hak_free(void* ptr);
void*  hak_calloc(size_t count, size_t size);
void*  hak_realloc(void* ptr, size_t size);
void*  hak_memalign(size_t alignment, size_t size);  /* NULL+EINVAL on a bad alignment */
size_t hak_usable_size(const void* ptr);             /* 0 for a pointer hak did not hand out */

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
/* Counters are per thread (plain increments on the thread's own heap) and
 * summed over every heap, live or abandoned, on read. */
size_t hak_stats_json(char* buf, size_t cap);   /* one JSON object, same contract as above */
void   hak_stats_reset(void);

#ifdef __cplusplus
}
#endif
#endif

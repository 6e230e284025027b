/* router.c -- the front: routes a request to Tiny, Mid MT or Large by size,
 * and a free to the pool that owns the pointer's segment.
 *
 *   size <= HAK_TINY_MAX                   -> Tiny   (tried first: 1024 B is Tiny)
 *   HAK_MID_MIN <= size <= HAK_MID_MAX     -> Mid MT
 *   anything else                          -> Large
 */
#include <errno.h>
#include <string.h>

#include "hak_internal.h"

static inline int _hak_route(size_t size) {
  if (likely(size <= HAK_TINY_MAX)) return HAK_POOL_TINY;
  if (likely(size >= HAK_MID_MIN && size <= HAK_MID_MAX)) return HAK_POOL_MID;
  return HAK_POOL_LARGE;
}

/* Is p the user pointer of a block of this segment (not its header or a
 * byte inside a block)?  Used off the hot paths only. */
static bool _hak_block_start(const _hak_segment_t* seg, const void* p) {
  size_t hdr = seg->pool == HAK_POOL_MID ? HAK_MID_HEADER_BYTES : 0;
  const char* c = p;
  if (c < seg->blocks_start + hdr || c >= seg->blocks_end) return false;
  return (size_t)(c - hdr - seg->blocks_start) % seg->stride == 0;
}

/* ---- allocation -------------------------------------------------------------- */

static inline void* _hak_malloc_in(_hak_heap_t* heap, size_t size) {
  switch (_hak_route(size)) {
    case HAK_POOL_TINY: return _hak_tiny_alloc(heap, size);
    case HAK_POOL_MID:  return _hak_mid_alloc(heap, size);
    default:            return _hak_large_alloc(heap, size, HAK_ALIGNMENT);
  }
}

static inline void _hak_free_in(_hak_heap_t* heap, void* p) {
  _hak_desc_t* desc = _hak_map_lookup(p);
  if (unlikely(desc == NULL)) {  /* not hak's: ignore it, never touch it */
    heap->stats.foreign_frees++;
    return;
  }
  switch (desc->pool) {
    case HAK_POOL_TINY: _hak_tiny_free(heap, (_hak_segment_t*)desc, p); break;
    case HAK_POOL_MID:  _hak_mid_free(heap, (_hak_segment_t*)desc, p); break;
    default:            _hak_large_free(heap, (_hak_large_t*)desc, p); break;
  }
}

HAK_API void* hak_malloc(size_t size) {
  _hak_heap_t* heap = _hak_heap();
  void* p;
  if (likely(heap != NULL)) {
    p = _hak_malloc_in(heap, size);
  } else {  /* after this thread's exit */
    p = _hak_malloc_in(_hak_late_enter(), size);
    _hak_late_leave();
  }
  if (unlikely(p == NULL)) errno = ENOMEM;
  return p;
}

HAK_API void hak_free(void* p) {
  if (unlikely(p == NULL)) return;
  _hak_heap_t* heap = _hak_heap();
  if (likely(heap != NULL)) {
    _hak_free_in(heap, p);
  } else {  /* after this thread's exit */
    _hak_free_in(_hak_late_enter(), p);
    _hak_late_leave();
  }
}

HAK_API void* hak_calloc(size_t count, size_t size) {
  size_t bytes;
  if (unlikely(__builtin_mul_overflow(count, size, &bytes))) {
    errno = ENOMEM;
    return NULL;
  }
  void* p = hak_malloc(bytes);
  /* Large mappings are fresh from the OS and already zero. */
  if (p != NULL && _hak_route(bytes) != HAK_POOL_LARGE) memset(p, 0, bytes);
  return p;
}

HAK_API size_t hak_usable_size(const void* p) {
  if (p == NULL) return 0;
  _hak_desc_t* desc = _hak_map_lookup(p);
  if (desc == NULL) return 0;
  if (desc->pool == HAK_POOL_LARGE) {
    const _hak_large_t* large = (const _hak_large_t*)desc;
    return large->user == p ? large->usable : 0;
  }
  const _hak_segment_t* seg = (const _hak_segment_t*)desc;
  return _hak_block_start(seg, p) ? seg->block_size : 0;
}

HAK_API void* hak_realloc(void* p, size_t size) {
  if (p == NULL) return hak_malloc(size);
  if (size == 0) {  /* glibc's behaviour: free, return NULL */
    hak_free(p);
    return NULL;
  }
  size_t usable = hak_usable_size(p);
  if (unlikely(usable == 0)) {  /* not hak's: its size is unknown, so it cannot be moved */
    errno = ENOMEM;
    return NULL;
  }
  /* Keep the block when the request still fits and would be routed to the same pool. */
  if (size <= usable && _hak_route(size) == hak_pool_of(p)) return p;
  void* q = hak_malloc(size);
  if (q == NULL) return NULL;
  memcpy(q, p, size < usable ? size : usable);
  hak_free(p);
  return q;
}

HAK_API void* hak_memalign(size_t alignment, size_t size) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    errno = EINVAL;
    return NULL;
  }
  if (alignment <= HAK_ALIGNMENT) return hak_malloc(size);
  /* Tiny blocks are aligned to their class size, so a class >= alignment serves it. */
  size_t need = size > alignment ? size : alignment;
  _hak_heap_t* heap = _hak_heap();
  bool late = heap == NULL;  /* after this thread's exit */
  if (unlikely(late)) heap = _hak_late_enter();
  void* p = need <= HAK_TINY_MAX ? _hak_tiny_alloc(heap, need) : _hak_large_alloc(heap, size, alignment);
  if (unlikely(late)) _hak_late_leave();
  if (p == NULL) errno = ENOMEM;
  return p;
}

/* ---- introspection -------------------------------------------------------------- */

HAK_API int hak_pool_of(const void* p) {
  _hak_desc_t* desc = p ? _hak_map_lookup(p) : NULL;
  return desc == NULL ? HAK_POOL_NONE : (int)desc->pool;
}

HAK_API int hak_route(size_t size) { return _hak_route(size); }

HAK_API size_t hak_block_footprint(size_t size) {
  switch (_hak_route(size)) {
    case HAK_POOL_TINY: return _hak_tiny_class_size(_hak_tiny_class(size));
    case HAK_POOL_MID:  return HAK_MID_STRIDE(_hak_mid_class(size));
    default:            return 0;
  }
}

/* ---- drop-in malloc (LD_PRELOAD build) -------------------------------------------- */
#if defined(HAK_PRELOAD)
#define _HAK_ALIAS(name, target) extern __typeof(target) name __attribute__((alias(#target), visibility("default")))
_HAK_ALIAS(malloc, hak_malloc);
_HAK_ALIAS(free, hak_free);
_HAK_ALIAS(calloc, hak_calloc);
_HAK_ALIAS(realloc, hak_realloc);
_HAK_ALIAS(malloc_usable_size, hak_usable_size);
#endif

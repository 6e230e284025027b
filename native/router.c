/* router.c -- the front: routes a request to Tiny, Mid MT or Large by size,
 * and a free to the pool that owns the pointer's segment.
 *
 *   size <= HAK_TINY_MAX                   -> Tiny   (tried first: 1024 B is Tiny)
 *   HAK_MID_MIN <= size <= HAK_MID_MAX     -> Mid MT
 *   anything else                          -> Large
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "hak_internal.h"

/* ---- invalid frees ------------------------------------------------------------ */

uintptr_t _hak_free_secret;
static _Atomic(int) _hak_invalid_abort = HAK_INVALID_FREE_ABORT;
static _Atomic(int) _hak_options_state;  /* 0 not yet, 1 in progress, 2 done */

/* Once, before the first heap (so before any block) exists: the free-key
 * secret (the kernel's AT_RANDOM bytes: no system call, no allocation) and
 * HAK_INVALID_FREE from the environment (getenv allocates nothing). */
void _hak_options_init(void) {
  int expected = 0;
  if (_hak_atomic_load_acquire(&_hak_options_state) == 2 ||
      !_hak_atomic_cas_strong_acq_rel(&_hak_options_state, &expected, 1)) {
    while (_hak_atomic_load_acquire(&_hak_options_state) != 2) { /* another thread */ }
    return;
  }
  uintptr_t secret = (uintptr_t)&_hak_free_secret * 0x9E3779B97F4A7C15ull;
  const unsigned char* random = (const unsigned char*)getauxval(AT_RANDOM);
  if (random != NULL) {
    uintptr_t r;
    memcpy(&r, random, sizeof r);
    secret ^= r;
  }
  /* Low bits set: block addresses are 16-aligned, so a key is never 0, the
   * value a block handed out carries there. */
  _hak_free_secret = secret | 0xF;
  const char* mode = getenv("HAK_INVALID_FREE");
  if (mode != NULL && strcmp(mode, "count") == 0) _hak_atomic_store_release(&_hak_invalid_abort, 0);
  else if (mode != NULL && strcmp(mode, "abort") == 0) _hak_atomic_store_release(&_hak_invalid_abort, 1);
  _hak_atomic_store_release(&_hak_options_state, 2);
}

HAK_API int hak_invalid_free_mode(int mode) {
  _hak_options_init();
  int abort_now = _hak_atomic_load_acquire(&_hak_invalid_abort);
  if (mode == HAK_INVALID_FREE_MODE_ABORT || mode == HAK_INVALID_FREE_MODE_COUNT)
    _hak_atomic_store_release(&_hak_invalid_abort, mode == HAK_INVALID_FREE_MODE_ABORT);
  return abort_now ? HAK_INVALID_FREE_MODE_ABORT : HAK_INVALID_FREE_MODE_COUNT;
}

/* One line, written without allocating: "hak: free(): double free detected (0x...)". */
void _hak_bad_free(_hak_heap_t* heap, const char* op, _hak_bad_t what, const void* p) {
  if (heap != NULL) {
    _hak_diag_inc(heap, invalid_frees);
    if (what == HAK_BAD_DOUBLE) _hak_diag_inc(heap, double_frees);
    if (what == HAK_BAD_FOREIGN) _hak_diag_inc(heap, foreign_frees);
  }
  if (!_hak_atomic_load_relaxed(&_hak_invalid_abort)) return;
  char line[160];
  size_t n = 0;
  const char* parts[] = {"hak: ", op, "(): ", what == HAK_BAD_DOUBLE ? "double free detected" : "invalid pointer", " (0x"};
  for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
    for (const char* c = parts[i]; *c && n < 100; c++) line[n++] = *c;
  uintptr_t v = (uintptr_t)p;
  int shift = 60;
  while (shift > 0 && ((v >> shift) & 0xF) == 0) shift -= 4;
  for (; shift >= 0; shift -= 4) line[n++] = "0123456789abcdef"[(v >> shift) & 0xF];
  line[n++] = ')';
  line[n++] = '\n';
  (void)!write(2, line, n);
  abort();
}

static inline int _hak_route(size_t size) {
  if (_hak_likely(size <= HAK_TINY_MAX)) return HAK_POOL_TINY;
  if (_hak_likely(size >= HAK_MID_MIN && size <= HAK_MID_MAX)) return HAK_POOL_MID;
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
    default:            return _hak_large_alloc(heap, size, HAK_ALIGNMENT, false);
  }
}

static inline void _hak_free_in(_hak_heap_t* heap, void* p) {
  _hak_desc_t* desc = _hak_map_lookup(p);
  if (_hak_unlikely(desc == NULL)) {  /* not hak's: never touch it */
    _hak_bad_free(heap, "free", HAK_BAD_FOREIGN, p);
    return;
  }
  /* Every block hak hands out is 16-byte aligned (glibc checks the same):
   * the one pointer check of every pool, before any pool reads near p. */
  if (_hak_unlikely(((uintptr_t)p & (HAK_ALIGNMENT - 1)) != 0)) {
    _hak_bad_free(heap, "free", HAK_BAD_INVALID, p);
    return;
  }
  _hak_assert(desc->pool == HAK_POOL_TINY || desc->pool == HAK_POOL_MID || desc->pool == HAK_POOL_LARGE);
  switch (desc->pool) {
    case HAK_POOL_TINY: _hak_tiny_free(heap, (_hak_segment_t*)desc, p); break;
    case HAK_POOL_MID:  _hak_mid_free(heap, (_hak_segment_t*)desc, p); break;
    default:            _hak_large_free(heap, (_hak_large_t*)desc, p); break;
  }
}

HAK_API void* hak_malloc(size_t size) {
  _hak_heap_t* heap = _hak_heap();
  void* p;
  if (_hak_likely(heap != NULL)) {
    p = _hak_malloc_in(heap, size);
  } else {  /* after this thread's exit */
    p = _hak_malloc_in(_hak_late_enter(), size);
    _hak_late_leave();
  }
  if (_hak_unlikely(p == NULL)) errno = ENOMEM;
  return p;
}

HAK_API void hak_free(void* p) {
  if (_hak_unlikely(p == NULL)) return;
  _hak_heap_t* heap = _hak_heap();
  if (_hak_likely(heap != NULL)) {
    _hak_free_in(heap, p);
  } else {  /* after this thread's exit */
    _hak_free_in(_hak_late_enter(), p);
    _hak_late_leave();
  }
}

HAK_API void* hak_calloc(size_t count, size_t size) {
  size_t bytes;
  if (_hak_unlikely(__builtin_mul_overflow(count, size, &bytes))) {
    errno = ENOMEM;
    return NULL;
  }
  if (_hak_route(bytes) != HAK_POOL_LARGE) {
    void* p = hak_malloc(bytes);
    if (p != NULL) memset(p, 0, bytes);
    return p;
  }
  /* Large knows which of its pages are untouched (fresh or given back). */
  _hak_heap_t* heap = _hak_heap();
  bool late = heap == NULL;  /* after this thread's exit */
  if (_hak_unlikely(late)) heap = _hak_late_enter();
  void* p = _hak_large_alloc(heap, bytes, HAK_ALIGNMENT, true);
  if (_hak_unlikely(late)) _hak_late_leave();
  if (p == NULL) errno = ENOMEM;
  return p;
}

/* Is p a live Tiny/Mid block: a block's start, handed out, not free (and in
 * the header variants, its header intact)?  Off the hot paths. */
static bool _hak_block_live(_hak_segment_t* seg, const void* p) {
  if (!_hak_block_start(seg, p) || !_hak_segment_handed_out(seg, p)) return false;
  if (seg->pool == HAK_POOL_TINY) return !_hak_node_is_free(p);
  return _hak_mid_block_live(seg, p);
}

HAK_API size_t hak_usable_size(const void* p) {
  if (p == NULL) return 0;
  _hak_desc_t* desc = _hak_map_lookup(p);
  if (desc == NULL) return 0;
  if (desc->pool == HAK_POOL_LARGE) return _hak_large_usable((_hak_large_t*)desc, p);
  _hak_segment_t* seg = (_hak_segment_t*)desc;
  return _hak_block_live(seg, p) ? seg->block_size : 0;
}

static void* _hak_realloc_large(_hak_large_t* desc, void* p, size_t size) {
  _hak_heap_t* heap = _hak_heap();
  bool late = heap == NULL;  /* after this thread's exit */
  if (_hak_unlikely(late)) heap = _hak_late_enter();
  size_t old = 0;
  void* q = _hak_large_realloc(heap, desc, p, size, &old);
  if (q == NULL && old != 0) {  /* it has to move: to another pool, or where it can grow */
    size_t want = size;
    /* growing: with slack, so a buffer grown in small steps moves O(log n) times */
    if (size > old && _hak_route(size) == HAK_POOL_LARGE && size < ((size_t)1 << 46))
      want = size + size / HAK_LARGE_GROW_SLACK;
    q = _hak_malloc_in(heap, want);
    if (q != NULL) {
      memcpy(q, p, size < old ? size : old);
      _hak_free_in(heap, p);
    } else {
      errno = ENOMEM;
    }
  }
  if (_hak_unlikely(late)) _hak_late_leave();
  return q;
}

HAK_API void* hak_realloc(void* p, size_t size) {
  if (p == NULL) return hak_malloc(size);
  if (size == 0) {  /* glibc's behaviour: free, return NULL */
    hak_free(p);
    return NULL;
  }
  _hak_desc_t* desc = _hak_map_lookup(p);
  /* Large grows and shrinks in place where it can (and moves otherwise). */
  if (desc != NULL && desc->pool == HAK_POOL_LARGE) return _hak_realloc_large((_hak_large_t*)desc, p, size);
  size_t usable = desc != NULL && _hak_block_live((_hak_segment_t*)desc, p) ? ((_hak_segment_t*)desc)->block_size : 0;
  if (_hak_unlikely(usable == 0)) {  /* not a live block of hak's: its size is unknown, it cannot be moved */
    _hak_heap_t* heap = _hak_heap();
    _hak_bad_free(heap, "realloc",
                  desc == NULL ? HAK_BAD_FOREIGN
                  : _hak_block_start((_hak_segment_t*)desc, p) && _hak_segment_handed_out((_hak_segment_t*)desc, p)
                      ? HAK_BAD_DOUBLE : HAK_BAD_INVALID, p);
    errno = EINVAL;
    return NULL;
  }
  /* Keep the block when the request still fits and would be routed to the same pool. */
  if (size <= usable && _hak_route(size) == (int)desc->pool) return p;
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
  if (_hak_unlikely(late)) heap = _hak_late_enter();
  void* p = need <= HAK_TINY_MAX ? _hak_tiny_alloc(heap, need) : _hak_large_alloc(heap, size, alignment, false);
  if (_hak_unlikely(late)) _hak_late_leave();
  if (p == NULL) errno = ENOMEM;
  return p;
}

/* ---- introspection -------------------------------------------------------------- */

HAK_API int hak_pool_of(const void* p) {
  _hak_desc_t* desc = p ? _hak_map_lookup(p) : NULL;
  if (desc == NULL) return HAK_POOL_NONE;
  if (desc->pool == HAK_POOL_LARGE &&  /* a freed huge block, or a descriptor no longer in use */
      _hak_atomic_load_relaxed(&((_hak_large_t*)desc)->kind) == HAK_LARGE_NONE)
    return HAK_POOL_NONE;
  return (int)desc->pool;
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

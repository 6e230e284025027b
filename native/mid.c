/* mid.c -- the Mid MT pool: per-thread segments, one per size class
 * (chunk_base, end, free list), power-of-two classes HAK_MID_MIN..HAK_MID_MAX.
 *
 * The free path is the phase under investigation and is chosen at build time:
 *   HAK_MID_FREE_REGISTRY (Phase 6-A)  chunks are registered in a global
 *     registry at refill; free finds the class from the caller's TLS segment
 *     ranges, and a pointer outside them takes a mutex-guarded registry
 *     lookup and is returned to its owner.
 *   HAK_MID_FREE_HEADER (Phase 6-B)  a header (class index, magic) in front
 *     of every block is written on alloc and read on every free; a remote
 *     (cross-thread) free is not implemented: the block is leaked, and counted.
 *
 *   HAK_MID_FREE_HEADER + HAK_MID_REMOTE_LOCKFREE (Phase 6-C)  the same
 *     header free, and a remote free goes back to its owner through a
 *     lock-free list: no leak, no mutex.
 *   HAK_MID_FREE_CHUNK (Phase 6-D)  no header and no registry: the class and
 *     the owner come from the chunk the segment map found (which every variant
 *     reaches first), so a local free is lock-free from any of the thread's
 *     chunks and a remote free goes to the owner's lock-free list (as 6-C).
 *
 * The router has already established, from the segment map, that the pointer
 * is in a Mid segment; how the free path finds the class and the owner is
 * exactly what differs between the phases, so it is left to them. */
#include <string.h>
#include <sys/mman.h>

#include "hak_internal.h"

/* Is `off` (bytes from a chunk's first block) a block boundary?  The registry
 * free path checks it on every free, so a pointer into the middle of a block
 * is never taken for one: a mask for a power-of-two stride; for the padded
 * control a divisibility test by multiplication -- off = 2^k * q with
 * q * inverse(m) <= UINT64_MAX / m, m the stride's odd part.  (The header
 * variants check the header's address-bound magic instead.) */
#if HAK_MID_BLOCK_PAD == 0
static inline bool _hak_mid_at_block(uint64_t off, uint32_t cls) { return (off & (HAK_MID_STRIDE(cls) - 1)) == 0; }
static void _hak_mid_divisors_init(void) {}
#else
typedef struct {
  uint64_t inv, limit;
  unsigned shift;
} _hak_mid_divisor_t;
static _hak_mid_divisor_t _hak_mid_divisors[HAK_MID_CLASSES];
static pthread_once_t _hak_mid_divisors_once = PTHREAD_ONCE_INIT;

static void _hak_mid_divisors_fill(void) {
  for (uint32_t cls = 0; cls < HAK_MID_CLASSES; cls++) {
    uint64_t stride = HAK_MID_STRIDE(cls);
    unsigned shift = (unsigned)__builtin_ctzll(stride);
    uint64_t m = stride >> shift, inv = m;           /* m odd: inv is right to 3 bits */
    for (int i = 0; i < 5; i++) inv *= 2 - m * inv;  /* Newton: 6, 12, 24, 48, 96 bits */
    _hak_mid_divisors[cls] = (_hak_mid_divisor_t){inv, UINT64_MAX / m, shift};
  }
}
/* Before the first Mid block exists (so before any free can need the table). */
static void _hak_mid_divisors_init(void) { pthread_once(&_hak_mid_divisors_once, _hak_mid_divisors_fill); }

static inline bool _hak_mid_at_block(uint64_t off, uint32_t cls) {
  const _hak_mid_divisor_t* d = &_hak_mid_divisors[cls];
  return (off & ((1ull << d->shift) - 1)) == 0 && (off >> d->shift) * d->inv <= d->limit;
}
#endif

/* HAK_MID_FREE_SPIN: a known cost on every Mid free (a check that a measurement sees one).
   The counter stays in a register: a volatile one on the stack costs a store-to-load forward per
   iteration, whose latency itself moves with the stack's layout. */
static inline void _hak_mid_free_spin(void) {
#if HAK_MID_FREE_SPIN > 0
  for (int i = 0; i < HAK_MID_FREE_SPIN; i++) {
    __asm__ volatile("" : "+r"(i));
  }
#endif
}

/* ---- the chunk registry (6-A) ------------------------------------------- */
#if defined(HAK_MID_FREE_REGISTRY)
typedef struct {
  char* base;               /* first block of the chunk */
  char* end;
  _hak_heap_t* owner;
  uint32_t class_idx;
} _hak_mid_reg_entry_t;

static pthread_mutex_t _hak_mid_registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static _hak_mid_reg_entry_t* _hak_mid_registry;    /* sorted by base */
static size_t _hak_mid_registry_len, _hak_mid_registry_cap;

void _hak_mid_registry_lock(void) { pthread_mutex_lock(&_hak_mid_registry_mutex); }
void _hak_mid_registry_unlock(void) { pthread_mutex_unlock(&_hak_mid_registry_mutex); }
void _hak_mid_registry_reinit(void) { pthread_mutex_init(&_hak_mid_registry_mutex, NULL); }

static bool _hak_mid_registry_add(_hak_heap_t* heap, _hak_segment_t* chunk) {
  bool ok = true;
  _hak_lock(&_hak_mid_registry_mutex, heap);
  if (_hak_mid_registry_len == _hak_mid_registry_cap) {
    size_t cap = _hak_mid_registry_cap ? 2 * _hak_mid_registry_cap : HAK_REGISTRY_INITIAL;
    _hak_mid_reg_entry_t* grown = _hak_os_alloc_aligned(cap * sizeof *grown, 4096);
    if (grown == NULL) {
      ok = false;
      goto out;
    }
    if (_hak_mid_registry) {
      memcpy(grown, _hak_mid_registry, _hak_mid_registry_len * sizeof *grown);
      _hak_os_free(_hak_mid_registry, _hak_mid_registry_cap * sizeof *grown);
    }
    _hak_mid_registry = grown;
    _hak_mid_registry_cap = cap;
  }
  size_t i = _hak_mid_registry_len;
  while (i > 0 && _hak_mid_registry[i - 1].base > chunk->blocks_start) {
    _hak_mid_registry[i] = _hak_mid_registry[i - 1];
    i--;
  }
  _hak_mid_registry[i] = (_hak_mid_reg_entry_t){chunk->blocks_start, chunk->blocks_end, heap, chunk->class_idx};
  _hak_mid_registry_len++;
out:
  pthread_mutex_unlock(&_hak_mid_registry_mutex);
  return ok;
}

/* Binary search under the registry mutex; copies the entry out. */
static bool _hak_mid_registry_lookup(_hak_heap_t* heap, const void* p, _hak_mid_reg_entry_t* found) {
  bool hit = false;
  _hak_stat_inc(heap, registry_lookups);
  _hak_lock(&_hak_mid_registry_mutex, heap);
  size_t lo = 0, hi = _hak_mid_registry_len;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if ((const char*)p < _hak_mid_registry[mid].base) hi = mid;
    else if ((const char*)p >= _hak_mid_registry[mid].end) lo = mid + 1;
    else {
      *found = _hak_mid_registry[mid];
      hit = true;
      break;
    }
  }
  pthread_mutex_unlock(&_hak_mid_registry_mutex);
  return hit;
}
#else
void _hak_mid_registry_lock(void) {}
void _hak_mid_registry_unlock(void) {}
void _hak_mid_registry_reinit(void) {}
#endif

/* ---- allocation ---------------------------------------------------------- */

static _HAK_NOINLINE void* _hak_mid_alloc_slow(_hak_heap_t* heap, uint32_t cls) {
  _hak_mid_class_t* seg = &heap->mid[cls];
  /* 1. blocks returned by other threads (6-A remote frees) */
  void* remote = _hak_remote_take(&heap->mid_remote[cls], &seg->free_list);
  if (remote != NULL) {
    _hak_assert_popped(heap, remote, HAK_POOL_MID, cls);
    return remote;
  }
  /* 2. never-used blocks of the current chunk, else refill with a new chunk */
  size_t stride = HAK_MID_STRIDE(cls);
  if (seg->bump == NULL || seg->bump + stride > seg->end) {
    _hak_segment_t* chunk = _hak_segment_new(heap, HAK_POOL_MID, cls, _hak_mid_class_size(cls), stride);
    if (chunk == NULL) return NULL;
    _hak_mid_divisors_init();
#if defined(HAK_MID_FREE_REGISTRY)
    if (!_hak_mid_registry_add(heap, chunk)) return NULL;
#endif
    chunk->next = seg->chunks;
    seg->chunks = chunk;
    seg->chunk_base = chunk->blocks_start;
    seg->end = chunk->blocks_end;
    seg->bump = chunk->blocks_start;
  }
  void* block = seg->bump;
  seg->bump += stride;
  _hak_atomic_store_relaxed(&seg->chunks->used_end, seg->bump);
  return block;
}

void* _hak_mid_alloc(_hak_heap_t* heap, size_t size) {
  uint32_t cls = _hak_mid_class(size);
  _hak_assert(cls < HAK_MID_CLASSES);
  _hak_mid_class_t* seg = &heap->mid[cls];
  void* block = seg->free_list;
  if (_hak_likely(block != NULL)) {
    _hak_assert_popped(heap, block, HAK_POOL_MID, cls);
    seg->free_list = *(void**)block;
  } else {
    block = _hak_mid_alloc_slow(heap, cls);
    if (_hak_unlikely(block == NULL)) return NULL;
  }
  _hak_node_claim(block);
  _hak_stat_inc(heap, mid_allocs);
  _hak_stat_add(heap, mid_bytes, size);
  _hak_stat_inc(heap, mid_class_allocs[cls]);
#if defined(HAK_MID_FREE_HEADER)
  _hak_mid_header_t* hdr = block;
  hdr->class_idx = cls;
  hdr->magic = _hak_mid_magic_at(hdr);
  return hdr + 1;
#else
  return block;
#endif
}

/* Every variant's local free ends here, and its remote free in
 * _hak_mid_mark_remote: the double-free check is the same in all of them. */
static inline void _hak_mid_push_local(_hak_heap_t* heap, uint32_t cls, void* block) {
  _hak_assert(cls < HAK_MID_CLASSES);
  _hak_assert(_hak_segment_of(block)->owner == heap);  /* local: the caller's own block */
  _hak_assert_block(_hak_segment_of(block), block, HAK_POOL_MID, cls);
  if (_hak_unlikely(!_hak_node_mark_free(block))) {
    _hak_bad_free(heap, "free", HAK_BAD_DOUBLE, (char*)block + HAK_MID_HEADER_BYTES);
    return;
  }
  *(void**)block = heap->mid[cls].free_list;
  heap->mid[cls].free_list = block;
  _hak_stat_inc(heap, mid_frees);
  _hak_stat_inc(heap, mid_local_frees);
  _hak_stat_inc(heap, mid_class_frees[cls]);
}

/* A free by another thread: mark the block free (atomically); false, and
 * reported, if it already was. */
static inline bool _hak_mid_mark_remote(_hak_heap_t* heap, void* block) {
  if (_hak_likely(_hak_node_mark_free_atomic(block))) return true;
  _hak_bad_free(heap, "free", HAK_BAD_DOUBLE, (char*)block + HAK_MID_HEADER_BYTES);
  return false;
}

/* A live Mid block (for realloc and malloc_usable_size; the caller has checked
 * that p is a block's start, handed out). */
bool _hak_mid_block_live(const _hak_segment_t* seg, const void* p) {
  const char* node = (const char*)p - HAK_MID_HEADER_BYTES;
  if (_hak_node_is_free(node)) return false;
#if defined(HAK_MID_FREE_HEADER)
  const _hak_mid_header_t* hdr = (const _hak_mid_header_t*)node;
  if (hdr->magic != _hak_mid_magic_at(hdr) || hdr->class_idx != seg->class_idx) return false;
#else
  (void)seg;
#endif
  return true;
}

/* ---- free ------------------------------------------------------------------ */
#if defined(HAK_MID_FREE_REGISTRY)
// excerpt: mid-free-registry
void _hak_mid_free(_hak_heap_t* heap, _hak_segment_t* chunk, void* p) {
  _hak_mid_free_spin();
  /* 1. The class comes from the chunk the segment map found for p (the
   *    reference passed the size; either way no per-block metadata is read). */
  uint32_t cls = chunk->class_idx;
  _hak_assert(_hak_segment_of(p) == chunk && chunk->pool == HAK_POOL_MID && cls < HAK_MID_CLASSES);
  _hak_mid_class_t* seg = &heap->mid[cls];
  /* 2. Fast path: p is a block handed out from the caller's TLS segment of
   *    that class (below its bump pointer, at a block boundary): lock-free. */
  if (_hak_likely((char*)p >= seg->chunk_base && (char*)p < seg->bump &&
             _hak_mid_at_block((uint64_t)((char*)p - seg->chunk_base), cls))) {
    _hak_mid_push_local(heap, cls, p);
    return;
  }
  /* 3. Slow path: not in a current TLS chunk (another thread's block, or an
   *    older chunk of ours).  Look it up in the global registry, under its
   *    mutex, to find the owner and the class. */
  _hak_mid_reg_entry_t e;
  if (_hak_unlikely(!_hak_mid_registry_lookup(heap, p, &e) ||
               !_hak_mid_at_block((uint64_t)((char*)p - e.base), e.class_idx) ||
               !_hak_segment_handed_out(chunk, p))) {  /* beyond its owner's bump pointer */
    _hak_bad_free(heap, "free", HAK_BAD_INVALID, p);  /* never handed out */
    return;
  }
  /* the registry and the segment map agree on the chunk */
  _hak_assert(e.base == chunk->blocks_start && e.end == chunk->blocks_end);
  _hak_assert(e.owner == chunk->owner && e.class_idx == chunk->class_idx);
  if (e.owner == heap) {
    _hak_mid_push_local(heap, e.class_idx, p);
    return;
  }
  /* 4. Remote free: return the block to its owner's lock-free remote list. */
  if (_hak_unlikely(!_hak_mid_mark_remote(heap, p))) return;
  _hak_stat_inc(heap, mid_frees);
  _hak_stat_inc(heap, mid_remote_frees);
  _hak_stat_inc(heap, mid_class_frees[e.class_idx]);
  _hak_assert_block(chunk, p, HAK_POOL_MID, e.class_idx);
  _hak_remote_push(&e.owner->mid_remote[e.class_idx], p);
}
// end-excerpt
#elif defined(HAK_MID_FREE_CHUNK)
// excerpt: mid-free-chunk
void _hak_mid_free(_hak_heap_t* heap, _hak_segment_t* chunk, void* p) {
  _hak_mid_free_spin();
  /* 1. The class and the owner come from the chunk the segment map found for
   *    p, which every variant reaches first: no header read, no registry. */
  uint32_t cls = chunk->class_idx;
  _hak_assert(_hak_segment_of(p) == chunk && chunk->pool == HAK_POOL_MID && cls < HAK_MID_CLASSES);
  if (_hak_unlikely((char*)p < chunk->blocks_start ||
                    !_hak_mid_at_block((uint64_t)((char*)p - chunk->blocks_start), cls) ||
                    !_hak_segment_handed_out(chunk, p))) {
    _hak_bad_free(heap, "free", HAK_BAD_INVALID, p);  /* not a block's start, or never handed out */
    return;
  }
  /* 2. Local free, whichever of the caller's chunks holds the block: lock-free. */
  if (_hak_likely(chunk->owner == heap)) {
    _hak_mid_push_local(heap, cls, p);
    return;
  }
  /* 3. Remote free: back to the owner through its lock-free list (as 6-C). */
  _hak_assert_block(chunk, p, HAK_POOL_MID, cls);
  if (_hak_unlikely(!_hak_mid_mark_remote(heap, p))) return;
  _hak_stat_inc(heap, mid_frees);
  _hak_stat_inc(heap, mid_remote_frees);
  _hak_stat_inc(heap, mid_class_frees[cls]);
  _hak_remote_push(&chunk->owner->mid_remote[cls], p);
}
// end-excerpt
#else
// excerpt: mid-free-header
void _hak_mid_free(_hak_heap_t* heap, _hak_segment_t* chunk, void* p) {
  _hak_mid_free_spin();
  /* 1. Read the header in front of the block: class index and magic.  Never
   *    in front of the chunk's first block; the magic is tied to the header's
   *    address and the class must be the chunk's, so neither a pointer into a
   *    block nor stale data is taken for a header. */
  _hak_mid_header_t* hdr = (_hak_mid_header_t*)p - 1;
  _hak_assert(_hak_segment_of(p) == chunk && chunk->pool == HAK_POOL_MID);
  if (_hak_unlikely((char*)hdr < chunk->blocks_start)) {
    _hak_bad_free(heap, "free", HAK_BAD_INVALID, p);
    return;
  }
  _hak_stat_inc(heap, header_reads);
  uint32_t cls = hdr->class_idx;
  if (_hak_unlikely(hdr->magic != _hak_mid_magic_at(hdr) || cls != chunk->class_idx)) {
    /* not a live Mid block: a free one (its header is now a list node), or none */
    _hak_bad_free(heap, "free", _hak_node_is_free(hdr) ? HAK_BAD_DOUBLE : HAK_BAD_INVALID, p);
    return;
  }
  /* a header that passed the magic check was written by an allocation */
  _hak_assert(cls < HAK_MID_CLASSES && _hak_segment_handed_out(chunk, hdr));
  _hak_mid_class_t* seg = &heap->mid[cls];
  /* 2. Fast path: the block is in the caller's current chunk of that class. */
  if (_hak_likely((char*)hdr >= seg->chunk_base && (char*)hdr < seg->end)) {
    _hak_mid_push_local(heap, cls, hdr);  /* lock-free */
    return;
  }
  /* 3. An older chunk of this thread is still a local free. */
  if (chunk->owner == heap) {
    _hak_mid_push_local(heap, cls, hdr);
    return;
  }
  _hak_assert(chunk->owner != heap);
  _hak_assert_block(chunk, hdr, HAK_POOL_MID, cls);
  if (_hak_unlikely(!_hak_mid_mark_remote(heap, hdr))) return;
  _hak_stat_inc(heap, mid_frees);
  _hak_stat_inc(heap, mid_remote_frees);
  _hak_stat_inc(heap, mid_class_frees[cls]);
#if defined(HAK_MID_REMOTE_LOCKFREE)
  /* 4. Remote free (Phase 6-C): back to the owner through its lock-free list. */
  _hak_remote_push(&chunk->owner->mid_remote[cls], hdr);
#else
  /* 4. Remote free NOT IMPLEMENTED (as in Phase 6-B): the block is leaked. */
  _hak_stat_inc(heap, leaked_blocks);
  _hak_stat_add(heap, leaked_bytes, _hak_mid_class_size(cls));
  hdr->magic = 0;  /* and marked free above: a second free of it is a double free */
#endif
}
// end-excerpt
#endif

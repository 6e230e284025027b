/* hak_internal.h -- types and inline helpers shared by the allocator's files.
 * Internal names carry the _hak_ prefix; nothing here is exported. */
#ifndef HAK_INTERNAL_H
#define HAK_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hak.h"
#include "hak_atomic.h"  /* _hak_likely/_hak_unlikely, _hak_atomic_* */
#include "hak_config.h"

/* ---- compiler helpers --------------------------------------------------- */
#define HAK_API     __attribute__((visibility("default")))
#define _HAK_NOINLINE __attribute__((noinline))

/* Internal assertions (mimalloc's mi_assert_internal): invariants the free
 * paths trust -- a block on a block boundary of its segment, a class index in
 * range, a list node carrying the free key, a remote block going back to its
 * owner, a Large span's bookkeeping.  Compiled in by HAK_DEBUG=1 (the asan
 * build kind); without it the expression is not even evaluated, so a release
 * build's code is what it was without them.  A failure prints one line and
 * aborts. */
#if HAK_DEBUG
void _hak_assert_fail(const char* expr, const char* file, int line) __attribute__((cold, noreturn));
#define _hak_assert(x) (_hak_likely(x) ? (void)0 : _hak_assert_fail(#x, __FILE__, __LINE__))
#else
#define _hak_assert(x) ((void)0)
#endif

/* compile-time log2 of a power of two (for array sizes) */
#define _HAK_LOG2(x) \
  ((x) >= (1u << 20) ? 20 + _HAK_LOG2_20((x) >> 20) : _HAK_LOG2_20(x))
#define _HAK_LOG2_20(x) \
  ((x) >= 524288 ? 19 : (x) >= 262144 ? 18 : (x) >= 131072 ? 17 : (x) >= 65536 ? 16 : \
   (x) >= 32768 ? 15 : (x) >= 16384 ? 14 : (x) >= 8192 ? 13 : (x) >= 4096 ? 12 : \
   (x) >= 2048 ? 11 : (x) >= 1024 ? 10 : (x) >= 512 ? 9 : (x) >= 256 ? 8 : (x) >= 128 ? 7 : \
   (x) >= 64 ? 6 : (x) >= 32 ? 5 : (x) >= 16 ? 4 : (x) >= 8 ? 3 : (x) >= 4 ? 2 : (x) >= 2 ? 1 : 0)

#define HAK_SEGMENT_SIZE   ((uintptr_t)1 << HAK_SEGMENT_SHIFT)
#define HAK_SEGMENT_MASK   (HAK_SEGMENT_SIZE - 1)
#define HAK_ALIGNMENT      16   /* malloc's guaranteed alignment */
#define HAK_TINY_MAX_BLOCK ((size_t)1 << (HAK_TINY_MIN_SHIFT + HAK_TINY_CLASSES - 1))
#define HAK_MID_MIN_SHIFT  _HAK_LOG2(HAK_MID_MIN)
#define HAK_MID_CLASSES    (_HAK_LOG2(HAK_MID_MAX) - _HAK_LOG2(HAK_MID_MIN) + 1)

typedef enum { HAK_POOL_NONE = 0, HAK_POOL_TINY = 1, HAK_POOL_MID = 2, HAK_POOL_LARGE = 3 } _hak_pool_t;

/* ---- 6-B Mid block header ---------------------------------------------- */
/* In front of every Mid block in the header variant; 16 bytes so the user
 * pointer keeps malloc's 16-byte alignment. */
typedef struct _hak_mid_header_s {
  uint32_t class_idx;
  uint32_t magic;
  uint64_t _pad;
} _hak_mid_header_t;
_Static_assert(sizeof(_hak_mid_header_t) == 16, "the Mid header keeps user pointers 16-byte aligned");
/* The magic a header at `hdr` carries: HAK_MID_MAGIC mixed with the header's
 * own address, so bytes that merely look like a header (stale data inside a
 * block, a pointer into a block) do not pass for one: checking it costs one
 * xor more than a fixed magic. */
static inline uint32_t _hak_mid_magic_at(const void* hdr) {
  return HAK_MID_MAGIC ^ (uint32_t)((uintptr_t)hdr >> 4);
}
#if defined(HAK_MID_FREE_HEADER)
#define HAK_MID_HEADER_BYTES 16 /* sizeof(_hak_mid_header_t), usable in #if */
#else
#define HAK_MID_HEADER_BYTES 0
#endif

/* ---- counters ----------------------------------------------------------- */
/* X-macro: the one list of counter names (JSON keys, struct fields, sums). */
#define HAK_COUNTERS(X) \
  X(tiny_allocs) X(tiny_frees) X(tiny_remote_frees) X(tiny_bytes) \
  X(mid_allocs) X(mid_frees) X(mid_local_frees) X(mid_remote_frees) X(mid_bytes) \
  X(large_allocs) X(large_frees) X(large_bytes) \
  X(registry_lookups) X(mutex_locks) X(header_reads) \
  X(leaked_blocks) X(leaked_bytes) X(foreign_frees) X(invalid_frees) X(double_frees)

typedef struct _hak_stats_s {
#define _HAK_FIELD(name) uint64_t name;
  HAK_COUNTERS(_HAK_FIELD)
#undef _HAK_FIELD
  uint64_t tiny_class_allocs[HAK_TINY_CLASSES];
  uint64_t tiny_class_frees[HAK_TINY_CLASSES];
  uint64_t mid_class_allocs[HAK_MID_CLASSES];
  uint64_t mid_class_frees[HAK_MID_CLASSES];
} _hak_stats_t;

/* Hot-path counting.  HAK_STATS=0 (the timed builds) compiles these away, so a
 * timed run carries no instrument that one variant pays more often than another
 * (6-B's header_reads, 6-A's mutex_locks); the counted builds keep the default 1.
 * Diagnostics off the hot path (foreign_frees, invalid_frees, double_frees) are
 * counted in every build, with _hak_diag_inc.
 *
 * A heap's counters are written by the one thread that owns the heap, and read
 * (summed) by any thread: the owner's increment is a relaxed atomic load and
 * store (the same plain moves as `+=` on x86-64 and aarch64, no lock prefix),
 * so a concurrent reader sees whole values and nothing is ever a data race.
 * Counters only grow; hak_stats_reset subtracts a snapshot (see stats.c). */
#define _hak_counter_add(ctr, n) \
  _hak_atomic_store_relaxed(_hak_atomic_view(uint64_t, &(ctr)), \
                            _hak_atomic_load_relaxed(_hak_atomic_view(uint64_t, &(ctr))) + (n))
#define _hak_diag_inc(heap, field) _hak_counter_add((heap)->stats.field, 1)
#if HAK_STATS
#define _hak_stat_add(heap, field, n) ((void)_hak_counter_add((heap)->stats.field, (n)))
#else
#define _hak_stat_add(heap, field, n) ((void)sizeof((heap)->stats.field += (n)))
#endif
#define _hak_stat_inc(heap, field) _hak_stat_add(heap, field, 1)

/* Bytes currently reserved from the OS (segments + large mappings): global,
 * changed only on mmap/munmap, so an atomic costs nothing on the hot path. */
extern _Atomic(int64_t) _hak_os_reserved;

/* ---- segments and the segment map ---------------------------------------- */
struct _hak_heap_s;

/* Every descriptor the segment map points to starts with its pool. */
typedef struct _hak_segment_s {
  uint32_t pool;               /* HAK_POOL_TINY or HAK_POOL_MID */
  uint32_t class_idx;
  size_t   block_size;         /* user bytes per block (the class size) */
  size_t   stride;             /* bytes per block, header included */
  struct _hak_heap_s* owner;   /* heap that carves and reuses its blocks */
  char*    blocks_start;       /* first block (aligned to the class size) */
  char*    blocks_end;
  struct _hak_segment_s* next; /* owner's segments of this class */
  /* End of the blocks ever handed out (the owner's bump pointer in this
   * segment): a block at or past it was never handed out.  Written by the
   * owner when it bumps, read by any thread that frees into the segment. */
  _Atomic(char*) used_end;
} _hak_segment_t;

static inline bool _hak_segment_handed_out(_hak_segment_t* seg, const void* p) {
  return (const char*)p < _hak_atomic_load_relaxed(&seg->used_end);
}

/* Large: what the segment map points to for a Large segment (spans) or a
 * block with a mapping of its own (huge).  Kept out of the mappings, in slabs
 * that are never unmapped, so a lock-free map lookup may always read it. */
typedef enum { HAK_LARGE_NONE = 0, HAK_LARGE_SPANS = 1, HAK_LARGE_HUGE = 2 } _hak_large_kind_t;
struct _hak_lseg_s;
typedef struct _hak_large_s {
  uint32_t pool;               /* HAK_POOL_LARGE */
  _Atomic(uint32_t) kind;      /* _hak_large_kind_t; NONE: free (atomic: hak_pool_of reads it unlocked) */
  char*    base;               /* the mapping (huge: the user pointer too) */
  size_t   size;               /* bytes mapped */
  size_t   align;              /* huge: the mapping's alignment */
  struct _hak_lseg_s* seg;     /* spans: the segment's header (at base) */
  struct _hak_large_s* next;   /* free descriptors / huge: unused */
} _hak_large_t;

typedef struct { uint32_t pool; } _hak_desc_t;

/* Two-level map from segment number to descriptor; leaves are mmap'ed lazily. */
#define HAK_MAP_BITS       (HAK_ADDRESS_BITS - HAK_SEGMENT_SHIFT)
#define HAK_MAP_LEAF_BITS  12
#define HAK_MAP_TOP_BITS   (HAK_MAP_BITS - HAK_MAP_LEAF_BITS)
typedef _Atomic(_hak_desc_t*) _hak_map_leaf_t[1u << HAK_MAP_LEAF_BITS];
extern _Atomic(_hak_map_leaf_t*) _hak_map_top[1u << HAK_MAP_TOP_BITS];

static inline _hak_desc_t* _hak_map_lookup(const void* p) {
  uintptr_t seg = (uintptr_t)p >> HAK_SEGMENT_SHIFT;
  if (_hak_unlikely(seg >> HAK_MAP_BITS)) return NULL;
  _hak_map_leaf_t* leaf = _hak_atomic_load_acquire(&_hak_map_top[seg >> HAK_MAP_LEAF_BITS]);
  if (_hak_unlikely(leaf == NULL)) return NULL;
  return _hak_atomic_load_acquire(&(*leaf)[seg & ((1u << HAK_MAP_LEAF_BITS) - 1)]);
}
bool  _hak_map_set(const void* segment_addr, _hak_desc_t* desc);   /* false: out of memory */

void* _hak_os_alloc_aligned(size_t size, size_t alignment);        /* zeroed, NULL on failure */
void* _hak_os_alloc_aligned_reserved(size_t size, size_t alignment); /* the same, overcommit-checked */
void  _hak_os_free(void* p, size_t size);
bool  _hak_os_unmap(void* p, size_t size);                      /* false: the kernel refused (nothing accounted) */
_hak_segment_t* _hak_segment_new(struct _hak_heap_s* heap, _hak_pool_t pool, uint32_t class_idx,
                                 size_t block_size, size_t stride);

static inline _hak_segment_t* _hak_segment_of(const void* p) {
  return (_hak_segment_t*)((uintptr_t)p & ~HAK_SEGMENT_MASK);
}

/* ---- invalid frees -------------------------------------------------------- */
/* A free list's block is a node {next, key}: the word after the link holds a
 * key bound to the block's address and a per-process secret while the block
 * is free (on a local, remote or leaked list), and is cleared when the block
 * is handed out.  A free that finds the key is a double free.  (glibc's
 * tcache key; the link is where each pool already keeps it: the user pointer
 * for Tiny and 6-A Mid, the header for 6-B Mid, so the check costs one load,
 * compare and store on a line the free writes anyway, in every variant.) */
extern uintptr_t _hak_free_secret;
/* layout.c: where a Mid segment's first block and a thread heap start (0 by default) */
extern const uint32_t _hak_layout_mid_chunk_offset;
extern const uint32_t _hak_layout_heap_offset;
static inline uintptr_t _hak_free_key(const void* node) { return (uintptr_t)node ^ _hak_free_secret; }
static inline _Atomic(uintptr_t)* _hak_node_key_word(const void* node) {
  return _hak_atomic_view(uintptr_t, (uintptr_t*)node + 1);
}
static inline bool _hak_node_is_free(const void* node) {
  return _hak_atomic_load_relaxed(_hak_node_key_word(node)) == _hak_free_key(node);
}
/* Local free: mark the block free; false if it already was. */
static inline bool _hak_node_mark_free(void* node) {
  uintptr_t* word = (uintptr_t*)node + 1;
  uintptr_t key = _hak_free_key(node);
  if (_hak_unlikely(*word == key)) return false;
  *word = key;
  return true;
}
/* Remote free: the same, atomically, so two threads freeing one block at once
 * cannot both succeed. */
static inline bool _hak_node_mark_free_atomic(void* node) {
  _Atomic(uintptr_t)* word = _hak_node_key_word(node);
  uintptr_t key = _hak_free_key(node);
  uintptr_t cur = _hak_atomic_load_relaxed(word);
  do {
    if (_hak_unlikely(cur == key)) return false;
  } while (!_hak_atomic_cas_weak_relaxed(word, &cur, key));
  return true;
}
/* Handing a block out: it is no longer free. */
static inline void _hak_node_claim(void* node) { ((uintptr_t*)node)[1] = 0; }

typedef enum { HAK_BAD_FOREIGN = 0, HAK_BAD_INVALID = 1, HAK_BAD_DOUBLE = 2 } _hak_bad_t;
/* Report a free (op "free", "realloc", ...) of `p` diagnosed invalid: count it,
 * then print one line and abort() unless HAK_INVALID_FREE=count. */
struct _hak_heap_s;
void _hak_bad_free(struct _hak_heap_s* heap, const char* op, _hak_bad_t what, const void* p)
    __attribute__((cold, noinline));
void _hak_options_init(void);  /* environment, secret: before the first block exists */

/* ---- per-thread heaps ---------------------------------------------------- */
typedef struct _hak_tiny_class_s {
  void*  free;                 /* local free list (LIFO) */
  char*  bump;                 /* next never-used block of the current segment */
  char*  bump_end;
  _hak_segment_t* segments;
} _hak_tiny_class_t;

/* The reference's MidThreadSegment: the current chunk's range, a free list. */
typedef struct _hak_mid_class_s {
  char*  chunk_base;           /* current chunk: [chunk_base, end) */
  char*  end;
  void*  free_list;
  char*  bump;
  _hak_segment_t* chunks;
} _hak_mid_class_t;

typedef struct _hak_heap_s {
  _hak_tiny_class_t tiny[HAK_TINY_CLASSES];
  _hak_mid_class_t  mid[HAK_MID_CLASSES];
  _hak_stats_t      stats;
  /* Blocks freed by other threads, pushed lock-free, drained by the owner
   * when its local list runs dry (6-A Mid remote frees land here too). */
  _Atomic(void*)    tiny_remote[HAK_TINY_CLASSES];
  _Atomic(void*)    mid_remote[HAK_MID_CLASSES];
  struct _hak_heap_s* next_all;       /* every heap ever made, for counters */
  struct _hak_heap_s* next_abandoned; /* heaps of exited threads, for reuse */
  bool              abandoned;
} _hak_heap_t;

extern __thread _hak_heap_t* _hak_tls_heap __attribute__((tls_model("initial-exec")));
_hak_heap_t* _hak_heap_init_thread(void);  /* NULL after this thread's exit */
_hak_heap_t* _hak_late_enter(void);        /* the shared heap of exited threads, locked */
void _hak_late_leave(void);
_hak_heap_t* _hak_heap_list(void);          /* head of every heap (read-only walk) */
void _hak_global_lock_all(void);            /* fork: hold every allocator mutex */
void _hak_global_unlock_all(void);
void _hak_global_reinit_child(void);

/* The calling thread's heap; NULL only in calls made after its exit (then use
 * _hak_late_enter / _hak_late_leave around the operation). */
static inline _hak_heap_t* _hak_heap(void) {
  _hak_heap_t* heap = _hak_tls_heap;
  if (_hak_likely(heap != NULL)) return heap;
  return _hak_heap_init_thread();
}

/* ---- remote lists ------------------------------------------------------- */
/* Blocks freed by other threads: a push-only stack per owner and class; the
 * owner takes the whole list at once, so there is no ABA. */
static inline void _hak_remote_push(_Atomic(void*)* list, void* block) {
  void* head = _hak_atomic_load_relaxed(list);
  do {
    *(void**)block = head;
  } while (!_hak_atomic_cas_weak_release(list, &head, block));
}
/* Take every block on the list: the first is returned, the rest (linked through
 * their first word) becomes the caller's free list. */
static inline void* _hak_remote_take(_Atomic(void*)* list, void** free_list) {
  void* first = _hak_atomic_exchange_acquire(list, NULL);
  if (first != NULL) *free_list = *(void**)first;
  return first;
}

/* Lock a mutex and count it: every allocator mutex acquisition is a counter. */
static inline void _hak_lock(pthread_mutex_t* m, _hak_heap_t* heap) {
  pthread_mutex_lock(m);
  if (heap) _hak_stat_inc(heap, mutex_locks);
}

/* ---- free-path invariants (HAK_DEBUG) ---------------------------------------- */
/* A Tiny/Mid block (its list node: the user pointer, or 6-B's header) that a
 * free path is about to link, or an allocation has just unlinked: it lies in
 * its segment `seg` (pool, class), inside the blocks range, on a block
 * boundary, below the bump pointer.  Nothing is evaluated without HAK_DEBUG. */
#define _hak_assert_block(seg, node, pool_, cls) do {                                          \
    _hak_assert(_hak_segment_of(node) == (seg));                                                \
    _hak_assert((seg)->pool == (pool_) && (seg)->class_idx == (cls));                           \
    _hak_assert((char*)(node) >= (seg)->blocks_start && (char*)(node) < (seg)->blocks_end);     \
    _hak_assert((size_t)((char*)(node) - (seg)->blocks_start) % (seg)->stride == 0);            \
    _hak_assert(_hak_segment_handed_out((seg), (node)));                                         \
  } while (0)
/* A block just taken from a free list (local or remote) of `heap`: it carries
 * the free key, and it is one of heap's blocks of that class -- so a remote
 * free pushed it onto its owner's list, not another heap's. */
#define _hak_assert_popped(heap, node, pool_, cls) do {                                        \
    _hak_assert(_hak_node_is_free(node));                                                       \
    _hak_assert(_hak_segment_of(node)->owner == (heap));                                        \
    _hak_assert_block(_hak_segment_of(node), (node), (pool_), (cls));                           \
  } while (0)

/* ---- size classes -------------------------------------------------------- */
static inline unsigned _hak_ceil_log2(size_t n) {   /* n >= 2 */
  return (unsigned)(64 - __builtin_clzl(n - 1));
}
static inline uint32_t _hak_tiny_class(size_t size) {
  if (size <= ((size_t)1 << HAK_TINY_MIN_SHIFT)) return 0;
  return _hak_ceil_log2(size) - HAK_TINY_MIN_SHIFT;
}
static inline size_t _hak_tiny_class_size(uint32_t cls) { return (size_t)1 << (HAK_TINY_MIN_SHIFT + cls); }
static inline uint32_t _hak_mid_class(size_t size) {
  if (size <= HAK_MID_MIN) return 0;
  return _hak_ceil_log2(size) - HAK_MID_MIN_SHIFT;
}
static inline size_t _hak_mid_class_size(uint32_t cls) { return (size_t)HAK_MID_MIN << cls; }
/* Bytes a Mid block of class `cls` occupies: its class, its header, its padding. */
#define HAK_MID_STRIDE(cls) (_hak_mid_class_size(cls) + HAK_MID_HEADER_BYTES + HAK_MID_BLOCK_PAD)

/* ---- pools --------------------------------------------------------------- */
void*  _hak_tiny_alloc(_hak_heap_t* heap, size_t size);
void   _hak_tiny_free(_hak_heap_t* heap, _hak_segment_t* seg, void* p);
void*  _hak_mid_alloc(_hak_heap_t* heap, size_t size);
void   _hak_mid_free(_hak_heap_t* heap, _hak_segment_t* chunk, void* p);
void   _hak_mid_registry_lock(void);
void   _hak_mid_registry_unlock(void);
void   _hak_mid_registry_reinit(void);
/* Large (large.c): any thread, under one lock.  `zero`: the block must read as
 * zeros (calloc); the pool knows which of its pages are still untouched. */
void*  _hak_large_alloc(_hak_heap_t* heap, size_t size, size_t alignment, bool zero);
void   _hak_large_free(_hak_heap_t* heap, _hak_large_t* desc, void* p);
/* realloc in place (or by mremap); NULL with *move_usable != 0: the caller moves it */
void*  _hak_large_realloc(_hak_heap_t* heap, _hak_large_t* desc, void* p, size_t size, size_t* move_usable);
size_t _hak_large_usable(_hak_large_t* desc, const void* p);   /* 0: not a live Large block */
void   _hak_large_lock(void);
void   _hak_large_unlock(void);
void   _hak_large_reinit(void);
void   _hak_stats_lock_fork(void);   /* the counters' epoch lock, held across fork() */
void   _hak_stats_unlock_fork(void);
void   _hak_stats_reinit_fork(void);
/* Live Tiny/Mid block?  (start of a block, handed out, not free) */
bool   _hak_mid_block_live(const _hak_segment_t* seg, const void* p);

#endif

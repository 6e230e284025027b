/* large.c -- Large: sizes above Mid and alignments the pools cannot give.
 *
 * Two kinds, both found through the segment map, whose entries point at a
 * descriptor kept outside the mappings (descriptor slabs are never unmapped,
 * so a lock-free map lookup can always read one):
 *
 *   spans  Blocks below HAK_LARGE_HUGE_MIN are runs of whole pages carved from
 *          Large segments (2^HAK_LARGE_SEGMENT_SHIFT bytes, every segment-map
 *          slot of them pointing at the segment's descriptor).  A page table
 *          at the segment's start describes its spans: length and state at a
 *          span's first and last page, so a freed span coalesces with free
 *          neighbours in O(1).  Free spans wait on bins by length (exact up to
 *          the largest span, one bin above) and are reused, best fit; realloc
 *          grows a span into the free pages after it and shrinks it by giving
 *          its tail back.  Free pages that still hold data ("dirty") are given
 *          back to the system with madvise(MADV_DONTNEED) once there are more
 *          than HAK_LARGE_DIRTY_MAX bytes of them; an entirely free segment is
 *          kept (HAK_LARGE_EMPTY_KEEP of them) or unmapped.
 *   huge   Blocks of HAK_LARGE_HUGE_MIN bytes or more get a mapping of their
 *          own, aligned to a segment (its first segment-map slot is theirs),
 *          grown and shrunk by mremap: in place when the kernel can, else
 *          moved (page tables, not bytes) to a new aligned range.  A few
 *          freed ones (HAK_LARGE_HUGE_CACHE bytes, HAK_LARGE_HUGE_CACHE_COUNT
 *          mappings) stay mapped for reuse by a request they fit closely.
 *
 * Every operation takes one lock: Large blocks are allocated and freed from
 * any thread.  It is not a Mid-path mutex, so it is not in mutex_locks.
 * Every system call's failure is checked, errno is left alone on success, and
 * _hak_os_reserved follows what is mapped. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "hak_internal.h"

#define HAK_LPAGE_SHIFT 12
#define HAK_LPAGE       ((size_t)1 << HAK_LPAGE_SHIFT)
#define HAK_LSEG_SIZE   ((size_t)1 << HAK_LARGE_SEGMENT_SHIFT)
#define HAK_LSEG_PAGES  (HAK_LSEG_SIZE >> HAK_LPAGE_SHIFT)
#define HAK_LSPAN_MAX   (HAK_LARGE_HUGE_MIN >> HAK_LPAGE_SHIFT)  /* pages of the largest span request */
#define HAK_LBINS       (HAK_LSPAN_MAX + 2)                       /* 1..MAX exact, MAX+1 for longer */
#define HAK_LBIN_WORDS  ((HAK_LBINS + 63) / 64)

typedef struct _hak_lpage_s {
  uint32_t pages;              /* the span's length, at its first and its last page */
  uint8_t  used;               /* 1: handed out; 0: free */
  uint8_t  start;              /* this is the span's first page */
  uint8_t  dirty;              /* free span (first page): may hold data */
  uint8_t  _pad;
  struct _hak_lpage_s* next;   /* free span (first page): bin links */
  struct _hak_lpage_s* prev;
} _hak_lpage_t;

typedef struct _hak_lseg_s {
  _hak_large_t* desc;
  struct _hak_lseg_s* next;    /* every Large segment */
  struct _hak_lseg_s* prev;
  uint32_t first;              /* first page after the header */
  uint32_t used_pages;
  _hak_lpage_t page[HAK_LSEG_PAGES];
} _hak_lseg_t;

_Static_assert(sizeof(_hak_lseg_t) <= HAK_SEGMENT_SIZE / 2, "a Large segment's header lies in its first segment");
_Static_assert(HAK_LARGE_HUGE_MIN >= HAK_LPAGE && HAK_LARGE_HUGE_MIN % HAK_LPAGE == 0, "HAK_LARGE_HUGE_MIN is whole pages");
_Static_assert(2 * HAK_LARGE_HUGE_MIN + sizeof(_hak_lseg_t) <= HAK_LSEG_SIZE,
               "a Large segment holds the largest span at the largest span alignment");
_Static_assert(HAK_LARGE_GROW_SLACK >= 1, "HAK_LARGE_GROW_SLACK is a divisor");

static pthread_mutex_t _hak_large_mutex = PTHREAD_MUTEX_INITIALIZER;
static _hak_lpage_t* _hak_lbins[HAK_LBINS];
static uint64_t _hak_lbin_map[HAK_LBIN_WORDS];
static uint64_t _hak_lbin_summary;  /* bit w: _hak_lbin_map[w] != 0 */
static _hak_lseg_t* _hak_lsegs;
static size_t _hak_lsegs_empty;     /* segments with no used span */
static size_t _hak_ldirty;          /* bytes of dirty free spans */
static _hak_large_t* _hak_ldesc_free;
/* Where the segment map points for a huge block freed (and unmapped): a second
 * free of it is then told from a pointer hak never had.  Any new mapping there
 * overwrites it. */
static _hak_large_t _hak_huge_freed = {.pool = HAK_POOL_LARGE, .kind = HAK_LARGE_NONE};
/* Freed huge mappings kept for reuse (descriptors of kind NONE, linked by next). */
static _hak_large_t* _hak_huge_cache;
static size_t _hak_huge_cache_bytes, _hak_huge_cache_count;
_Static_assert(HAK_LBIN_WORDS <= 64, "the bin summary is one word");

void _hak_large_lock(void) { pthread_mutex_lock(&_hak_large_mutex); }
void _hak_large_unlock(void) { pthread_mutex_unlock(&_hak_large_mutex); }
void _hak_large_reinit(void) { pthread_mutex_init(&_hak_large_mutex, NULL); }

static inline size_t _hak_pages_of(size_t size) {
  size_t pages = (size + HAK_LPAGE - 1) >> HAK_LPAGE_SHIFT;
  return pages ? pages : 1;
}
static inline _hak_lseg_t* _hak_lseg_of(const _hak_lpage_t* e) { return (_hak_lseg_t*)((uintptr_t)e & ~HAK_SEGMENT_MASK); }
static inline size_t _hak_lidx(const _hak_lseg_t* seg, const _hak_lpage_t* e) { return (size_t)(e - seg->page); }
static inline char* _hak_laddr(_hak_lseg_t* seg, size_t idx) { return (char*)seg + (idx << HAK_LPAGE_SHIFT); }

/* ---- descriptors ---------------------------------------------------------------- */

static _hak_large_t* _hak_ldesc_new(void) {
  if (_hak_ldesc_free == NULL) {
    size_t bytes = 64 * 1024;
    _hak_large_t* slab = _hak_os_alloc_aligned(bytes, 4096);
    if (slab == NULL) return NULL;
    for (size_t i = 0; i < bytes / sizeof *slab; i++) {
      slab[i].pool = HAK_POOL_LARGE;
      slab[i].next = _hak_ldesc_free;
      _hak_ldesc_free = &slab[i];
    }
  }
  _hak_large_t* d = _hak_ldesc_free;
  _hak_ldesc_free = d->next;
  d->next = NULL;
  return d;
}
/* Back on the free list; it stays a Large descriptor of kind NONE, so a stale
 * lookup that still reaches it is recognised under the lock. */
static void _hak_ldesc_release(_hak_large_t* d) {
  _hak_atomic_store_relaxed(&d->kind, HAK_LARGE_NONE);
  d->next = _hak_ldesc_free;
  _hak_ldesc_free = d;
}

/* ---- bins ---------------------------------------------------------------------- */

static inline size_t _hak_lbin(size_t pages) { return pages <= HAK_LSPAN_MAX ? pages : HAK_LSPAN_MAX + 1; }

static void _hak_lbin_insert(_hak_lpage_t* e) {
  size_t b = _hak_lbin(e->pages);
  e->prev = NULL;
  e->next = _hak_lbins[b];
  if (e->next) e->next->prev = e;
  _hak_lbins[b] = e;
  _hak_lbin_map[b >> 6] |= 1ull << (b & 63);
  _hak_lbin_summary |= 1ull << (b >> 6);
}

static void _hak_lbin_remove(_hak_lpage_t* e) {
  size_t b = _hak_lbin(e->pages);
  _hak_assert(e->prev != NULL || _hak_lbins[b] == e);  /* on the bin of its length */
  if (e->prev) e->prev->next = e->next;
  else _hak_lbins[b] = e->next;
  if (e->next) e->next->prev = e->prev;
  if (_hak_lbins[b] == NULL) {
    _hak_lbin_map[b >> 6] &= ~(1ull << (b & 63));
    if (_hak_lbin_map[b >> 6] == 0) _hak_lbin_summary &= ~(1ull << (b >> 6));
  }
}

/* The smallest free span of at least `pages` pages (best fit by bin). */
static _hak_lpage_t* _hak_lbin_find(size_t pages) {
  size_t b = _hak_lbin(pages);
  size_t w = b >> 6;
  uint64_t bits = _hak_lbin_map[w] & (~0ull << (b & 63));
  for (;;) {
    while (bits) {
      size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
      if (i <= HAK_LSPAN_MAX) return _hak_lbins[i];
      for (_hak_lpage_t* e = _hak_lbins[i]; e != NULL; e = e->next)  /* the bin of longer spans */
        if (e->pages >= pages) return e;
      return NULL;
    }
    uint64_t rest = w + 1 < 64 ? _hak_lbin_summary & (~0ull << (w + 1)) : 0;
    if (rest == 0) return NULL;
    w = (size_t)__builtin_ctzll(rest);
    bits = _hak_lbin_map[w];
  }
}

/* ---- spans ------------------------------------------------------------------------ */

static void _hak_span_set(_hak_lseg_t* seg, size_t idx, size_t pages, bool used) {
  _hak_lpage_t* e = &seg->page[idx];
  e->pages = (uint32_t)pages;
  e->used = used;
  e->start = 1;
  if (pages > 1) {
    _hak_lpage_t* last = &seg->page[idx + pages - 1];
    last->pages = (uint32_t)pages;
    last->used = used;
    last->start = 0;
  }
}

/* A free span (no coalescing: the caller knows its neighbours are used). */
static void _hak_span_put_free(_hak_lseg_t* seg, size_t idx, size_t pages, bool dirty) {
  _hak_span_set(seg, idx, pages, false);
  seg->page[idx].dirty = dirty;
  if (dirty) _hak_ldirty += pages << HAK_LPAGE_SHIFT;
  _hak_lbin_insert(&seg->page[idx]);
}

static void _hak_span_take_free(_hak_lpage_t* e) {
  _hak_assert(!e->used && e->start);
  _hak_assert(!e->dirty || _hak_ldirty >= (size_t)e->pages << HAK_LPAGE_SHIFT);
  _hak_lbin_remove(e);
  if (e->dirty) _hak_ldirty -= (size_t)e->pages << HAK_LPAGE_SHIFT;
}

static _hak_lseg_t* _hak_lseg_new(void) {
  _hak_large_t* desc = _hak_ldesc_new();
  if (desc == NULL) return NULL;
  _hak_lseg_t* seg = _hak_os_alloc_aligned(HAK_LSEG_SIZE, HAK_SEGMENT_SIZE);
  if (seg == NULL) {
    _hak_ldesc_release(desc);
    return NULL;
  }
  seg->desc = desc;
  seg->first = (uint32_t)((sizeof(_hak_lseg_t) + HAK_LPAGE - 1) >> HAK_LPAGE_SHIFT);
  seg->used_pages = 0;
  _hak_atomic_store_relaxed(&desc->kind, HAK_LARGE_SPANS);
  desc->base = (char*)seg;
  desc->size = HAK_LSEG_SIZE;
  desc->seg = seg;
  for (size_t off = 0; off < HAK_LSEG_SIZE; off += HAK_SEGMENT_SIZE) {
    if (!_hak_map_set((char*)seg + off, (_hak_desc_t*)desc)) {
      for (size_t undo = 0; undo < off; undo += HAK_SEGMENT_SIZE) _hak_map_set((char*)seg + undo, NULL);
      if (!_hak_os_unmap(seg, HAK_LSEG_SIZE)) return NULL;  /* stays mapped, and counted */
      _hak_ldesc_release(desc);
      return NULL;
    }
  }
  seg->prev = NULL;
  seg->next = _hak_lsegs;
  if (_hak_lsegs) _hak_lsegs->prev = seg;
  _hak_lsegs = seg;
  _hak_lsegs_empty++;
  _hak_span_put_free(seg, seg->first, HAK_LSEG_PAGES - seg->first, false);
  return seg;
}

/* An entirely free segment beyond the ones kept (not counted in
 * _hak_lsegs_empty): back to the system. */
static void _hak_lseg_release(_hak_lseg_t* seg) {
  /* its free spans (clean and dirty ones are not merged) leave the bins */
  for (size_t idx = seg->first; idx < HAK_LSEG_PAGES; idx += seg->page[idx].pages) _hak_span_take_free(&seg->page[idx]);
  for (size_t off = 0; off < HAK_LSEG_SIZE; off += HAK_SEGMENT_SIZE) _hak_map_set((char*)seg + off, NULL);
  _hak_large_t* desc = seg->desc;
  _hak_lseg_t* next = seg->next;
  _hak_lseg_t* prev = seg->prev;
  if (!_hak_os_unmap(seg, HAK_LSEG_SIZE)) {  /* refused: keep it, as it was */
    for (size_t off = 0; off < HAK_LSEG_SIZE; off += HAK_SEGMENT_SIZE) _hak_map_set((char*)seg + off, (_hak_desc_t*)desc);
    for (size_t idx = seg->first; idx < HAK_LSEG_PAGES; idx += seg->page[idx].pages) {
      _hak_lpage_t* e = &seg->page[idx];
      if (e->dirty) _hak_ldirty += (size_t)e->pages << HAK_LPAGE_SHIFT;
      _hak_lbin_insert(e);
    }
    _hak_lsegs_empty++;
    return;
  }
  if (prev) prev->next = next;
  else _hak_lsegs = next;
  if (next) next->prev = prev;
  _hak_ldesc_release(desc);
}

/* A free span's pages back to the system if they hold data; true when it is
 * clean (then its pages read as zeros). */
static bool _hak_span_clean(_hak_lseg_t* seg, size_t idx) {
  _hak_lpage_t* e = &seg->page[idx];
  if (!e->dirty) return true;
  size_t bytes = (size_t)e->pages << HAK_LPAGE_SHIFT;
  if (madvise(_hak_laddr(seg, idx), bytes, MADV_DONTNEED) != 0) return false;
  e->dirty = 0;
  _hak_ldirty -= bytes;
  return true;
}

/* Give every dirty free span back, and merge the clean free spans this leaves
 * side by side (a free span is dirty or clean as a whole, so a freed span is
 * merged only with dirty neighbours; here they become one again). */
static void _hak_large_purge(void) {
  int saved = errno;
  for (_hak_lseg_t* seg = _hak_lsegs; seg != NULL; seg = seg->next) {
    for (size_t idx = seg->first; idx < HAK_LSEG_PAGES; idx += seg->page[idx].pages) {
      _hak_lpage_t* e = &seg->page[idx];
      if (e->used || !_hak_span_clean(seg, idx)) continue;
      size_t r;
      while ((r = idx + e->pages) < HAK_LSEG_PAGES && !seg->page[r].used && _hak_span_clean(seg, r)) {
        size_t pages = e->pages + seg->page[r].pages;
        _hak_lbin_remove(e);
        _hak_lbin_remove(&seg->page[r]);
        _hak_span_set(seg, idx, pages, false);
        e->dirty = 0;
        _hak_lbin_insert(e);
      }
    }
  }
  errno = saved;
}

/* Carve a used span of `pages` pages aligned to `align_pages` pages. */
static void* _hak_span_alloc(size_t pages, size_t align_pages, bool* zeroed) {
  size_t need = pages + align_pages - 1;
  _hak_lpage_t* e = _hak_lbin_find(need);
  if (e == NULL) {
    if (_hak_lseg_new() == NULL) return NULL;
    e = _hak_lbin_find(need);
    if (e == NULL) return NULL;
  }
  _hak_lseg_t* seg = _hak_lseg_of(e);
  size_t idx = _hak_lidx(seg, e), total = e->pages;
  bool dirty = e->dirty;
  _hak_span_take_free(e);
  if (seg->used_pages == 0) _hak_lsegs_empty--;
  size_t start = idx;
  if (align_pages > 1) {
    uintptr_t addr = (uintptr_t)_hak_laddr(seg, idx), a = align_pages << HAK_LPAGE_SHIFT;
    start = idx + ((((addr + a - 1) & ~(a - 1)) - addr) >> HAK_LPAGE_SHIFT);
  }
  if (start > idx) _hak_span_put_free(seg, idx, start - idx, dirty);
  size_t tail = total - (start - idx) - pages;
  if (tail) _hak_span_put_free(seg, start + pages, tail, dirty);
  _hak_span_set(seg, start, pages, true);
  seg->used_pages += (uint32_t)pages;
  *zeroed = !dirty;
  return _hak_laddr(seg, start);
}

/* A used span becomes free (dirty): coalesced with dirty free neighbours (a
 * clean one stays apart, so that its pages are not counted as dirty and given
 * back again and again); an emptied segment is kept or unmapped; dirty pages
 * beyond the limit are given back. */
static void _hak_span_release(_hak_lseg_t* seg, size_t idx, size_t pages) {
  /* a used span: its first and last pages agree, it lies after the header */
  _hak_assert(seg->page[idx].used && seg->page[idx].start && seg->page[idx].pages == pages);
  _hak_assert(idx >= seg->first && idx + pages <= HAK_LSEG_PAGES && seg->used_pages >= pages);
  _hak_assert(pages == 1 || (seg->page[idx + pages - 1].pages == pages && seg->page[idx + pages - 1].used &&
                             !seg->page[idx + pages - 1].start));
  seg->page[idx].used = 0;  /* never a used span's start again, even inside a larger span */
  seg->used_pages -= (uint32_t)pages;
  size_t r = idx + pages;
  if (r < HAK_LSEG_PAGES && !seg->page[r].used && seg->page[r].dirty) {
    _hak_assert(seg->page[r].start && r + seg->page[r].pages <= HAK_LSEG_PAGES);
    pages += seg->page[r].pages;
    _hak_span_take_free(&seg->page[r]);
  }
  if (idx > seg->first && !seg->page[idx - 1].used) {
    size_t left = seg->page[idx - 1].pages;
    _hak_assert(left >= 1 && left <= idx - seg->first && seg->page[idx - left].start &&
                seg->page[idx - left].pages == left && !seg->page[idx - left].used);
    if (seg->page[idx - left].dirty) {
      idx -= left;
      pages += left;
      _hak_span_take_free(&seg->page[idx]);
    }
  }
  _hak_span_put_free(seg, idx, pages, true);
  if (seg->used_pages == 0) {
    if (_hak_lsegs_empty >= HAK_LARGE_EMPTY_KEEP) _hak_lseg_release(seg);
    else _hak_lsegs_empty++;
  }
  if (_hak_ldirty > HAK_LARGE_DIRTY_MAX) _hak_large_purge();
}

/* Under the lock: is p the start of a used span (its page in *idx_out)?  If
 * not, *bad says why: the start of a free span (a double free), or no start. */
static bool _hak_span_lookup(_hak_lseg_t* seg, const void* p, size_t* idx_out, _hak_bad_t* bad) {
  uintptr_t off = (uintptr_t)p - (uintptr_t)seg;
  *bad = HAK_BAD_INVALID;
  if ((off & (HAK_LPAGE - 1)) != 0 || off >= HAK_LSEG_SIZE || (off >> HAK_LPAGE_SHIFT) < seg->first)
    return false;
  size_t idx = off >> HAK_LPAGE_SHIFT;
  const _hak_lpage_t* e = &seg->page[idx];
  if (!e->start) return false;
  if (!e->used) {
    *bad = HAK_BAD_DOUBLE;
    return false;
  }
  *idx_out = idx;
  return true;
}

/* Under the lock: is `desc` (found without it) still what the map says for p? */
static bool _hak_large_current(_hak_large_t* desc, const void* p) {
  return _hak_atomic_load_relaxed(&desc->kind) != HAK_LARGE_NONE && _hak_map_lookup(p) == (_hak_desc_t*)desc;
}
/* Under the lock, for a p that is not current: why not. */
static _hak_bad_t _hak_large_stale(const void* p) {
  _hak_desc_t* now = _hak_map_lookup(p);
  if (now == (_hak_desc_t*)&_hak_huge_freed && ((uintptr_t)p & HAK_SEGMENT_MASK) == 0) return HAK_BAD_DOUBLE;
  return now == NULL || now == (_hak_desc_t*)&_hak_huge_freed ? HAK_BAD_FOREIGN : HAK_BAD_INVALID;
}

/* ---- huge blocks ------------------------------------------------------------------ */

/* A cached mapping that fits `map_size` closely (at most 1/4 more) and is
 * aligned as asked; published again.  Under the lock. */
static void* _hak_huge_reuse(size_t map_size, size_t align, bool* zeroed) {
  for (_hak_large_t** link = &_hak_huge_cache; *link != NULL; link = &(*link)->next) {
    _hak_large_t* d = *link;
    if (d->size < map_size || d->size - map_size > map_size / 4 || ((uintptr_t)d->base & (align - 1)) != 0) continue;
    if (!_hak_map_set(d->base, (_hak_desc_t*)d)) return NULL;
    *link = d->next;
    d->next = NULL;
    _hak_atomic_store_relaxed(&d->kind, HAK_LARGE_HUGE);
    _hak_huge_cache_bytes -= d->size;
    _hak_huge_cache_count--;
    *zeroed = false;
    return d->base;
  }
  return NULL;
}

/* Keep a freed huge mapping for reuse, if it is small enough and there is
 * room; its map slot says "freed" meanwhile.  Under the lock. */
static bool _hak_huge_keep(_hak_large_t* d) {
  if (d->size > HAK_LARGE_HUGE_CACHE / 2 || _hak_huge_cache_count >= HAK_LARGE_HUGE_CACHE_COUNT ||
      _hak_huge_cache_bytes + d->size > HAK_LARGE_HUGE_CACHE)
    return false;
  _hak_map_set(d->base, (_hak_desc_t*)&_hak_huge_freed);
  _hak_atomic_store_relaxed(&d->kind, HAK_LARGE_NONE);
  d->next = _hak_huge_cache;
  _hak_huge_cache = d;
  _hak_huge_cache_bytes += d->size;
  _hak_huge_cache_count++;
  return true;
}

static void* _hak_huge_alloc(size_t size, size_t alignment, bool* zeroed) {
  size_t map_size = _hak_pages_of(size) << HAK_LPAGE_SHIFT;
  size_t align = alignment > HAK_SEGMENT_SIZE ? alignment : HAK_SEGMENT_SIZE;
  *zeroed = true;
  _hak_large_lock();
  void* cached = _hak_huge_cache != NULL ? _hak_huge_reuse(map_size, align, zeroed) : NULL;
  _hak_large_t* desc = cached ? NULL : _hak_ldesc_new();
  _hak_large_unlock();
  if (cached != NULL) return cached;
  if (desc == NULL) return NULL;
  /* Reserved, unlike segments: an impossible request fails here, as with glibc,
   * instead of succeeding and killing the process when it is touched. */
  char* base = _hak_os_alloc_aligned_reserved(map_size, align);
  _hak_large_lock();
  if (base != NULL) {
    _hak_atomic_store_relaxed(&desc->kind, HAK_LARGE_HUGE);
    desc->base = base;
    desc->size = map_size;
    desc->align = align;
    desc->seg = NULL;
    if (!_hak_map_set(base, (_hak_desc_t*)desc)) {
      if (!_hak_os_unmap(base, map_size)) { /* stays mapped, and counted */ }
      base = NULL;
    }
  }
  if (base == NULL) _hak_ldesc_release(desc);
  _hak_large_unlock();
  return base;
}

/* ---- the pool's entry points ---------------------------------------------------------- */

void* _hak_large_alloc(_hak_heap_t* heap, size_t size, size_t alignment, bool zero) {
  if (alignment < HAK_ALIGNMENT) alignment = HAK_ALIGNMENT;
  if (size > ((size_t)1 << 46)) return NULL;  /* more than the address space */
  void* p;  /* (the system calls below leave errno alone: _hak_os_alloc, _hak_os_unmap, purge) */
  if (size < HAK_LARGE_HUGE_MIN && alignment < HAK_LARGE_HUGE_MIN) {
    size_t pages = _hak_pages_of(size);
    size_t align_pages = alignment > HAK_LPAGE ? alignment >> HAK_LPAGE_SHIFT : 1;
    bool zeroed = false;
    _hak_large_lock();
    p = _hak_span_alloc(pages, align_pages, &zeroed);
    _hak_large_unlock();
    if (p != NULL && zero && !zeroed) memset(p, 0, size);
  } else {
    bool zeroed = false;
    p = _hak_huge_alloc(size, alignment, &zeroed);  /* fresh pages are zero, cached ones not */
    if (p != NULL && zero && !zeroed) memset(p, 0, size);
  }
  if (_hak_unlikely(p == NULL)) return NULL;
  _hak_stat_inc(heap, large_allocs);
  _hak_stat_add(heap, large_bytes, size);
  return p;
}

void _hak_large_free(_hak_heap_t* heap, _hak_large_t* desc, void* p) {
  _hak_large_lock();
  if (!_hak_large_current(desc, p)) {  /* a block freed (and unmapped) meanwhile */
    _hak_bad_t bad = _hak_large_stale(p);
    _hak_large_unlock();
    _hak_bad_free(heap, "free", bad, p);
    return;
  }
  if (_hak_atomic_load_relaxed(&desc->kind) == HAK_LARGE_SPANS) {
    size_t idx = 0;
    _hak_bad_t bad;
    _hak_assert(desc->seg == (_hak_lseg_t*)desc->base && desc->seg->desc == desc);
    if (!_hak_span_lookup(desc->seg, p, &idx, &bad)) {
      _hak_large_unlock();
      _hak_bad_free(heap, "free", bad, p);
      return;
    }
    _hak_span_release(desc->seg, idx, desc->seg->page[idx].pages);
    _hak_large_unlock();
  } else {
    if (p != desc->base) {
      _hak_large_unlock();
      _hak_bad_free(heap, "free", HAK_BAD_INVALID, p);
      return;
    }
    char* base = desc->base;
    size_t size = desc->size;
    _hak_assert(((uintptr_t)base & (desc->align - 1)) == 0 && size % HAK_LPAGE == 0 && desc->seg == NULL);
    if (_hak_huge_keep(desc)) {
      _hak_large_unlock();
    } else {
      _hak_map_set(base, (_hak_desc_t*)&_hak_huge_freed);
      _hak_ldesc_release(desc);
      _hak_large_unlock();
      if (!_hak_os_unmap(base, size)) { /* refused: it stays mapped, and counted */ }
    }
  }
  _hak_stat_inc(heap, large_frees);
}

size_t _hak_large_usable(_hak_large_t* desc, const void* p) {
  size_t usable = 0, idx = 0;
  _hak_large_lock();
  if (_hak_large_current(desc, p)) {
    if (_hak_atomic_load_relaxed(&desc->kind) == HAK_LARGE_SPANS) {
      _hak_bad_t bad;
      if (_hak_span_lookup(desc->seg, p, &idx, &bad)) usable = (size_t)desc->seg->page[idx].pages << HAK_LPAGE_SHIFT;
    } else if (p == desc->base) {
      usable = desc->size;
    }
  }
  _hak_large_unlock();
  return usable;
}

/* Does giving back `old - new` bytes pay?  Not for a small fraction: a buffer
 * grown with slack and then a little more is not shrunk each step. */
static inline bool _hak_worth_shrinking(size_t old_bytes, size_t new_bytes) {
  return old_bytes - new_bytes > old_bytes / (2 * HAK_LARGE_GROW_SLACK);
}

/* realloc's exits, the lock held: the block kept (errno as on entry), or p invalid. */
static void* _hak_lrealloc_kept(void* p, int saved_errno) {
  _hak_large_unlock();
  errno = saved_errno;
  return p;
}
static void* _hak_lrealloc_bad(_hak_heap_t* heap, _hak_bad_t bad, void* p) {
  _hak_large_unlock();
  _hak_bad_free(heap, "realloc", bad, p);
  errno = EINVAL;
  return NULL;
}

/* realloc of a Large block.  Returns the block (p, or where mremap moved it),
 * or NULL: then *move_usable is the block's usable size if the caller must
 * move it (malloc, copy, free), or 0 on failure (errno set). */
void* _hak_large_realloc(_hak_heap_t* heap, _hak_large_t* desc, void* p, size_t size, size_t* move_usable) {
  *move_usable = 0;
  int saved = errno;
  _hak_large_lock();
  if (!_hak_large_current(desc, p)) return _hak_lrealloc_bad(heap, _hak_large_stale(p), p);
  bool stays_large = !(size <= HAK_TINY_MAX || (size >= HAK_MID_MIN && size <= HAK_MID_MAX));
  if (_hak_atomic_load_relaxed(&desc->kind) == HAK_LARGE_SPANS) {
    _hak_lseg_t* seg = desc->seg;
    size_t idx = 0;
    _hak_bad_t bad;
    if (!_hak_span_lookup(seg, p, &idx, &bad)) return _hak_lrealloc_bad(heap, bad, p);
    size_t old = seg->page[idx].pages, want = _hak_pages_of(size);
    if (stays_large && want <= old) {  /* shrink in place: the tail becomes free */
      if (_hak_worth_shrinking(old << HAK_LPAGE_SHIFT, want << HAK_LPAGE_SHIFT)) {
        _hak_span_set(seg, idx, want, true);
        _hak_span_set(seg, idx + want, old - want, true);
        _hak_span_release(seg, idx + want, old - want);
      }
      return _hak_lrealloc_kept(p, saved);
    }
    size_t r = idx + old;
    if (stays_large && size < HAK_LARGE_HUGE_MIN && r < HAK_LSEG_PAGES && !seg->page[r].used &&
        old + seg->page[r].pages >= want) {  /* grow in place into the free pages after it */
      _hak_lpage_t* next = &seg->page[r];
      size_t free_pages = next->pages;
      bool dirty = next->dirty;
      _hak_span_take_free(next);
      size_t rest = old + free_pages - want;
      if (rest) _hak_span_put_free(seg, idx + want, rest, dirty);
      _hak_span_set(seg, idx, want, true);
      seg->used_pages += (uint32_t)(want - old);
      return _hak_lrealloc_kept(p, saved);
    }
    _hak_large_unlock();
    *move_usable = old << HAK_LPAGE_SHIFT;
    return NULL;
  }
  /* huge */
  if (p != desc->base) return _hak_lrealloc_bad(heap, HAK_BAD_INVALID, p);
  size_t old = desc->size, want = _hak_pages_of(size) << HAK_LPAGE_SHIFT;
  if (!stays_large || size < HAK_LARGE_HUGE_MIN / 2) {  /* small enough for a span or a pool */
    _hak_large_unlock();
    *move_usable = old;
    return NULL;
  }
  if (want <= old) {
    if (_hak_worth_shrinking(old, want)) {
      /* shrinking the end of a mapping never splits it; if refused, keep it all */
      if (mremap(desc->base, old, want, 0) != MAP_FAILED) {
        _hak_atomic_sub_relaxed(&_hak_os_reserved, (int64_t)(old - want));
        desc->size = want;
      }
    }
    return _hak_lrealloc_kept(p, saved);
  }
  if (mremap(desc->base, old, want, 0) != MAP_FAILED) {  /* grown in place */
    _hak_atomic_add_relaxed(&_hak_os_reserved, (int64_t)(want - old));
    desc->size = want;
    return _hak_lrealloc_kept(p, saved);
  }
  /* Move the pages (not the bytes) to a new aligned range, with slack. */
  size_t grown = want + ((want / HAK_LARGE_GROW_SLACK + HAK_LPAGE - 1) & ~(HAK_LPAGE - 1));
  char* dest = _hak_os_alloc_aligned_reserved(grown, desc->align);
  if (dest == NULL) dest = _hak_os_alloc_aligned_reserved(grown = want, desc->align);
  if (dest == NULL || !_hak_map_set(dest, (_hak_desc_t*)desc)) {
    if (dest != NULL) (void)_hak_os_unmap(dest, grown);
    _hak_large_unlock();
    errno = ENOMEM;
    return NULL;
  }
  void* moved = mremap(desc->base, old, grown, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
  if (moved == MAP_FAILED) {
    _hak_map_set(dest, NULL);
    (void)_hak_os_unmap(dest, grown);
    _hak_large_unlock();
    errno = ENOMEM;
    return NULL;
  }
  /* dest's range (counted) now holds the block; the old range is gone */
  _hak_atomic_sub_relaxed(&_hak_os_reserved, (int64_t)old);
  _hak_map_set(desc->base, NULL);
  desc->base = dest;
  desc->size = grown;
  _hak_large_unlock();
  errno = saved;
  return dest;
}

/* segment.c -- memory from the OS, aligned segments, and the segment map.
 *
 * The map answers "is this pointer hak's, and which pool owns it" from the
 * pointer's address alone, so free() never trusts bytes in front of a
 * pointer it has not recognised. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "hak_internal.h"

_Atomic(int64_t) _hak_os_reserved;
_Atomic(_hak_map_leaf_t*) _hak_map_top[1u << HAK_MAP_TOP_BITS];

/* ---- OS memory ------------------------------------------------------------ */

static void* _hak_os_map(size_t size, bool reserve) {
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | (reserve ? 0 : MAP_NORESERVE);
  void* p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* Unmap and account; false (and nothing accounted) if the kernel refused,
 * which it may when the unmapping splits a mapping at the mapping-count limit. */
bool _hak_os_unmap(void* p, size_t size) {
  if (p == NULL || size == 0) return true;
  int saved = errno;
  if (munmap(p, size) != 0) {
    errno = saved;
    return false;
  }
  _hak_atomic_sub_relaxed(&_hak_os_reserved, (int64_t)size);
  return true;
}

void _hak_os_free(void* p, size_t size) { (void)_hak_os_unmap(p, size); }

/* Map `size` bytes aligned to `alignment` (a power of two >= the page size):
 * over-map by the alignment, then unmap the misaligned head and the tail.
 * `reserve`: let the kernel's overcommit check refuse what cannot be backed.
 * errno is left as it was, whatever happens (the caller reports failure). */
static void* _hak_os_alloc(size_t size, size_t alignment, bool reserve) {
  if (size + alignment < size) return NULL;
  int saved = errno;
  char* raw = alignment <= 4096 ? _hak_os_map(size, reserve) : _hak_os_map(size + alignment, reserve);
  if (raw == NULL) {
    errno = saved;
    return NULL;
  }
  if (alignment <= 4096) {
    _hak_atomic_add_relaxed(&_hak_os_reserved, (int64_t)size);
    return raw;
  }
  uintptr_t aligned = ((uintptr_t)raw + alignment - 1) & ~(uintptr_t)(alignment - 1);
  size_t head = aligned - (uintptr_t)raw;
  size_t tail = alignment - head;
  /* Each trim may need a new mapping (a split); if the kernel refuses, give
   * the whole range back rather than keep what nobody accounts for. */
  if ((head && munmap(raw, head) != 0) || (tail && munmap((char*)aligned + size, tail) != 0)) {
    /* the head may or may not be gone: unmap what remains of [raw, raw + size + alignment);
     * should even that be refused, the bytes stay mapped and are counted as such */
    if (munmap(raw, size + alignment) != 0)
      _hak_atomic_add_relaxed(&_hak_os_reserved, (int64_t)(size + alignment));
    errno = saved;
    return NULL;
  }
  _hak_atomic_add_relaxed(&_hak_os_reserved, (int64_t)size);
  errno = saved;
  return (void*)aligned;
}

/* Segments and metadata: reserved lazily (most of a segment may never be touched). */
void* _hak_os_alloc_aligned(size_t size, size_t alignment) { return _hak_os_alloc(size, alignment, false); }
/* Large blocks: the whole request is the caller's, so ask the kernel to account for it. */
void* _hak_os_alloc_aligned_reserved(size_t size, size_t alignment) { return _hak_os_alloc(size, alignment, true); }

/* ---- segment map ---------------------------------------------------------- */

bool _hak_map_set(const void* segment_addr, _hak_desc_t* desc) {
  uintptr_t seg = (uintptr_t)segment_addr >> HAK_SEGMENT_SHIFT;
  if (seg >> HAK_MAP_BITS) return false;
  _Atomic(_hak_map_leaf_t*)* slot = &_hak_map_top[seg >> HAK_MAP_LEAF_BITS];
  _hak_map_leaf_t* leaf = _hak_atomic_load_acquire(slot);
  if (leaf == NULL) {
    _hak_map_leaf_t* fresh = _hak_os_map(sizeof(_hak_map_leaf_t), false);
    if (fresh == NULL) return false;
    _hak_atomic_add_relaxed(&_hak_os_reserved, (int64_t)sizeof(_hak_map_leaf_t));
    if (_hak_atomic_cas_strong_acq_rel(slot, &leaf, fresh)) {
      leaf = fresh;
    } else {
      _hak_os_free(fresh, sizeof(_hak_map_leaf_t));  /* another thread won; `leaf` is theirs */
    }
  }
  _hak_atomic_store_release(&(*leaf)[seg & ((1u << HAK_MAP_LEAF_BITS) - 1)], desc);
  return true;
}

/* ---- segments ------------------------------------------------------------- */

/* A new segment for one pool, one class and one owner.  Blocks start at an
 * offset aligned to the class size so every block is aligned to its size
 * (what lets aligned allocations use Tiny). */
_hak_segment_t* _hak_segment_new(_hak_heap_t* heap, _hak_pool_t pool, uint32_t class_idx,
                                 size_t block_size, size_t stride) {
  _hak_segment_t* seg = _hak_os_alloc_aligned(HAK_SEGMENT_SIZE, HAK_SEGMENT_SIZE);
  if (seg == NULL) return NULL;
  size_t align = block_size < 4096 ? block_size : 4096;
  size_t first = (sizeof(_hak_segment_t) + HAK_MID_HEADER_BYTES * (pool == HAK_POOL_MID) + align - 1) & ~(align - 1);
  first -= HAK_MID_HEADER_BYTES * (pool == HAK_POOL_MID);  /* the user pointer is what gets aligned */
  /* A layout's shift of Mid blocks in their segment (Tiny's class alignment serves memalign: kept). */
  if (pool == HAK_POOL_MID) first += _hak_layout_mid_chunk_offset;
  size_t count = (HAK_SEGMENT_SIZE - first) / stride;
  seg->pool = pool;
  seg->class_idx = class_idx;
  seg->block_size = block_size;
  seg->stride = stride;
  seg->owner = heap;
  seg->blocks_start = (char*)seg + first;
  seg->blocks_end = seg->blocks_start + count * stride;
  _hak_atomic_store_relaxed(&seg->used_end, seg->blocks_start);
  if (!_hak_map_set(seg, (_hak_desc_t*)seg)) {
    _hak_os_free(seg, HAK_SEGMENT_SIZE);
    return NULL;
  }
  return seg;
}

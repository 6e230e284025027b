/* large.c -- Large: one mapping per allocation, for sizes outside Tiny and Mid
 * and for alignments the pools cannot give.
 *
 * The mapping is segment-aligned and whole segments long, so the segment that
 * holds the user pointer belongs to this allocation alone and the segment map
 * can point at its descriptor (at the start of the mapping). */
#include <errno.h>

#include "hak_internal.h"

#define HAK_PAGE 4096u

void* _hak_large_alloc(_hak_heap_t* heap, size_t size, size_t alignment) {
  if (alignment < HAK_ALIGNMENT) alignment = HAK_ALIGNMENT;
  size_t offset = (sizeof(_hak_large_t) + alignment - 1) & ~(alignment - 1);
  size_t map_align = alignment > HAK_SEGMENT_SIZE ? alignment : HAK_SEGMENT_SIZE;
  if (size > ((size_t)1 << 46)) return NULL;  /* more than the address space */
  /* At least 1 byte: a usable size of 0 always means "not hak's" (realloc relies
   * on it), and the user pointer must lie inside the mapping even for size 0. */
  size_t request = size;
  if (size == 0) size = 1;
  size_t map_size = (offset + size + HAK_SEGMENT_MASK) & ~HAK_SEGMENT_MASK;
  /* Reserved, unlike segments: an impossible request fails here, as with glibc,
   * instead of succeeding and killing the process when it is touched. */
  char* base = _hak_os_alloc_aligned_reserved(map_size, map_align);
  if (unlikely(base == NULL)) return NULL;
  _hak_large_t* desc = (_hak_large_t*)base;
  char* user = base + offset;
  desc->pool = HAK_POOL_LARGE;
  desc->user = user;
  desc->usable = ((offset + size + HAK_PAGE - 1) & ~(size_t)(HAK_PAGE - 1)) - offset;
  desc->map_base = base;
  desc->map_size = map_size;
  if (!_hak_map_set((void*)((uintptr_t)user & ~HAK_SEGMENT_MASK), (_hak_desc_t*)desc)) {
    _hak_os_free(base, map_size);
    return NULL;
  }
  _hak_stat_inc(heap, large_allocs);
  _hak_stat_add(heap, large_bytes, request);
  return user;
}

void _hak_large_free(_hak_heap_t* heap, _hak_large_t* desc, void* p) {
  if (unlikely(desc->user != p)) {  /* inside a large block, but not its start */
    heap->stats.foreign_frees++;
    return;
  }
  _hak_stat_inc(heap, large_frees);
  _hak_map_set((void*)((uintptr_t)p & ~HAK_SEGMENT_MASK), NULL);
  _hak_os_free(desc->map_base, desc->map_size);
}

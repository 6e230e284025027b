/* tiny.c -- the Tiny pool: 8 power-of-two classes (16 .. 2048 B), per-thread
 * free lists, one class and one owner per segment.  A free from another
 * thread is pushed lock-free onto the owner's remote list for that class. */
#include "hak_internal.h"

static _HAK_NOINLINE void* _hak_tiny_alloc_slow(_hak_heap_t* heap, uint32_t cls) {
  _hak_tiny_class_t* tc = &heap->tiny[cls];
  /* 1. blocks other threads gave back */
  void* remote = _hak_remote_take(&heap->tiny_remote[cls], &tc->free);
  if (remote != NULL) {
    _hak_assert_popped(heap, remote, HAK_POOL_TINY, cls);
    return remote;
  }
  /* 2. never-used blocks of the current segment, else a new segment */
  size_t size = _hak_tiny_class_size(cls);
  if (tc->bump == NULL || tc->bump + size > tc->bump_end) {
    _hak_segment_t* seg = _hak_segment_new(heap, HAK_POOL_TINY, cls, size, size);
    if (seg == NULL) return NULL;
    seg->next = tc->segments;
    tc->segments = seg;
    tc->bump = seg->blocks_start;
    tc->bump_end = seg->blocks_end;
  }
  void* block = tc->bump;
  tc->bump += size;
  _hak_atomic_store_relaxed(&tc->segments->used_end, tc->bump);
  return block;
}

void* _hak_tiny_alloc(_hak_heap_t* heap, size_t size) {
  uint32_t cls = _hak_tiny_class(size);
  _hak_assert(cls < HAK_TINY_CLASSES);
  _hak_tiny_class_t* tc = &heap->tiny[cls];
  void* block = tc->free;
  if (_hak_likely(block != NULL)) {
    _hak_assert_popped(heap, block, HAK_POOL_TINY, cls);
    tc->free = *(void**)block;
  } else {
    block = _hak_tiny_alloc_slow(heap, cls);
    if (_hak_unlikely(block == NULL)) return NULL;
  }
  _hak_node_claim(block);
  _hak_stat_inc(heap, tiny_allocs);
  _hak_stat_add(heap, tiny_bytes, size);
  _hak_stat_inc(heap, tiny_class_allocs[cls]);
  return block;
}

void _hak_tiny_free(_hak_heap_t* heap, _hak_segment_t* seg, void* p) {
  /* A pointer that is not at a block boundary, or at or past the segment's
   * bump pointer, was never handed out: the same checks for every thread. */
  if (_hak_unlikely(((uintptr_t)p & (seg->block_size - 1)) != 0 || (char*)p < seg->blocks_start ||
               !_hak_segment_handed_out(seg, p))) {
    _hak_bad_free(heap, "free", HAK_BAD_INVALID, p);
    return;
  }
  uint32_t cls = seg->class_idx;
  _hak_heap_t* owner = seg->owner;
  _hak_assert(cls < HAK_TINY_CLASSES && owner != NULL);
  _hak_assert(seg->block_size == _hak_tiny_class_size(cls) && seg->stride == seg->block_size);
  _hak_assert_block(seg, p, HAK_POOL_TINY, cls);
  if (_hak_likely(owner == heap)) {
    if (_hak_unlikely(!_hak_node_mark_free(p))) {
      _hak_bad_free(heap, "free", HAK_BAD_DOUBLE, p);
      return;
    }
    *(void**)p = heap->tiny[cls].free;
    heap->tiny[cls].free = p;
  } else {
    if (_hak_unlikely(!_hak_node_mark_free_atomic(p))) {
      _hak_bad_free(heap, "free", HAK_BAD_DOUBLE, p);
      return;
    }
    _hak_stat_inc(heap, tiny_remote_frees);
    _hak_remote_push(&owner->tiny_remote[cls], p);
  }
  _hak_stat_inc(heap, tiny_frees);
  _hak_stat_inc(heap, tiny_class_frees[cls]);
}

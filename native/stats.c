/* stats.c -- counters summed over every heap, and the build's own description.
 *
 * Both are written as JSON into a caller's buffer without allocating, so they
 * can run inside an exiting process or from a malloc replacement. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hak_internal.h"

typedef struct {
  char* buf;
  size_t cap;
  size_t len;  /* bytes needed so far; may exceed cap */
} _hak_json_t;

static void _hak_json_put(_hak_json_t* j, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char* dst = j->len < j->cap ? j->buf + j->len : NULL;
  int n = vsnprintf(dst, dst ? j->cap - j->len : 0, fmt, ap);
  va_end(ap);
  if (n > 0) j->len += (size_t)n;
}

static void _hak_json_array(_hak_json_t* j, const char* key, const uint64_t* values, size_t n) {
  _hak_json_put(j, ", \"%s\": [", key);
  for (size_t i = 0; i < n; i++) _hak_json_put(j, "%s%llu", i ? ", " : "", (unsigned long long)values[i]);
  _hak_json_put(j, "]");
}

/* ---- counters ------------------------------------------------------------------ */

/* The sums at the last hak_stats_reset (the epoch's start), under its lock. */
static pthread_mutex_t _hak_stats_lock = PTHREAD_MUTEX_INITIALIZER;
static _hak_stats_t _hak_stats_base;

void _hak_stats_lock_fork(void) { pthread_mutex_lock(&_hak_stats_lock); }
void _hak_stats_unlock_fork(void) { pthread_mutex_unlock(&_hak_stats_lock); }
void _hak_stats_reinit_fork(void) { pthread_mutex_init(&_hak_stats_lock, NULL); }

#define _HAK_STAT_WORDS (sizeof(_hak_stats_t) / sizeof(uint64_t))

/* One heap's counters as they stood at one instant.  Each word is read
 * atomically (its owner writes it with a relaxed atomic store), but a pass over
 * the words is not an instant: an owner that counts meanwhile (or runs while
 * the reader is preempted) can land a pair's free in the pass and not its
 * alloc, and a reset's snapshot taken so would then skew every later read.
 * Counters only grow, so two passes that agree word for word were each
 * unchanged across the moment between them: the values are that moment's.
 * Passes repeat until two agree; past _HAK_STATS_PASSES (an owner counting
 * at native speed throughout) the last pass is taken as it is.  "That
 * moment's" needs one owner's stores seen in the order made, which x86-64
 * gives relaxed stores; on a weaker order (aarch64) a pass can still pair a
 * free with an alloc not yet seen, as before. */
#define _HAK_STATS_PASSES 64

static void _hak_stats_read_heap(const _hak_heap_t* h, uint64_t* out) {
  const uint64_t* src = (const uint64_t*)&h->stats;
  uint64_t again[_HAK_STAT_WORDS];
  for (size_t i = 0; i < _HAK_STAT_WORDS; i++) out[i] = _hak_atomic_load_relaxed(_hak_atomic_view(uint64_t, (uint64_t*)&src[i]));
  for (int pass = 1; pass < _HAK_STATS_PASSES; pass++) {
    _hak_fence_acquire();
    for (size_t i = 0; i < _HAK_STAT_WORDS; i++) again[i] = _hak_atomic_load_relaxed(_hak_atomic_view(uint64_t, (uint64_t*)&src[i]));
    if (memcmp(out, again, sizeof again) == 0) return;
    memcpy(out, again, sizeof again);
  }
}

/* Every heap's counters, summed, each heap's at one instant of its own. */
static void _hak_stats_sum(_hak_stats_t* total) {
  memset(total, 0, sizeof *total);
  uint64_t* dst = (uint64_t*)total;
  uint64_t heap[_HAK_STAT_WORDS];
  for (_hak_heap_t* h = _hak_heap_list(); h != NULL; h = h->next_all) {
    _hak_stats_read_heap(h, heap);
    for (size_t i = 0; i < _HAK_STAT_WORDS; i++) dst[i] += heap[i];
  }
}

/* Counted since the last reset: counters only grow, so each difference is >= 0. */
static void _hak_stats_since_reset(_hak_stats_t* s) {
  pthread_mutex_lock(&_hak_stats_lock);
  _hak_stats_sum(s);
  uint64_t* dst = (uint64_t*)s;
  const uint64_t* base = (const uint64_t*)&_hak_stats_base;
  for (size_t i = 0; i < _HAK_STAT_WORDS; i++) dst[i] -= base[i];
  pthread_mutex_unlock(&_hak_stats_lock);
}

HAK_API size_t hak_stats_json(char* buf, size_t cap) {
  _hak_stats_t s;
  _hak_stats_since_reset(&s);
  _hak_json_t j = {buf, cap, 0};
  const char* sep = "";
  _hak_json_put(&j, "{");
#define _HAK_EMIT(name) _hak_json_put(&j, "%s\"" #name "\": %llu", sep, (unsigned long long)s.name), sep = ", ";
  HAK_COUNTERS(_HAK_EMIT)
#undef _HAK_EMIT
  int64_t reserved = _hak_atomic_load_relaxed(&_hak_os_reserved);
  _hak_json_put(&j, ", \"os_reserved_bytes\": %lld", (long long)reserved);
  _hak_json_array(&j, "tiny_class_allocs", s.tiny_class_allocs, HAK_TINY_CLASSES);
  _hak_json_array(&j, "tiny_class_frees", s.tiny_class_frees, HAK_TINY_CLASSES);
  _hak_json_array(&j, "mid_class_allocs", s.mid_class_allocs, HAK_MID_CLASSES);
  _hak_json_array(&j, "mid_class_frees", s.mid_class_frees, HAK_MID_CLASSES);
  _hak_json_put(&j, "}");
  return j.len;
}

/* A new epoch: later reads count from the sums now.  No heap's counters are
 * written, so a thread counting meanwhile loses nothing (a zeroing store
 * racing with its increment could undo either); os_reserved_bytes is a
 * level, not a count. */
HAK_API void hak_stats_reset(void) {
  pthread_mutex_lock(&_hak_stats_lock);
  _hak_stats_sum(&_hak_stats_base);
  pthread_mutex_unlock(&_hak_stats_lock);
}

/* ---- configuration --------------------------------------------------------------- */

HAK_API size_t hak_config_json(char* buf, size_t cap) {
  _hak_json_t j = {buf, cap, 0};
  uint64_t tiny[HAK_TINY_CLASSES], mid[HAK_MID_CLASSES];
  for (uint32_t c = 0; c < HAK_TINY_CLASSES; c++) tiny[c] = _hak_tiny_class_size(c);
  for (uint32_t c = 0; c < HAK_MID_CLASSES; c++) mid[c] = _hak_mid_class_size(c);
  _hak_json_put(&j, "{\"variant\": \"%s\", \"mid_free\": \"%s\"", HAK_VARIANT_NAME,
#if defined(HAK_MID_FREE_REGISTRY)
                "registry"
#elif defined(HAK_MID_FREE_CHUNK)
                "chunk"
#else
                "header"
#endif
  );
  _hak_json_put(&j, ", \"mid_remote_free\": \"%s\"",
#if defined(HAK_MID_FREE_REGISTRY)
                "registry"
#elif defined(HAK_MID_REMOTE_LOCKFREE) || defined(HAK_MID_FREE_CHUNK)
                "lockfree"
#else
                "leak"
#endif
  );
  _hak_json_put(&j, ", \"tiny_max\": %d, \"mid_min\": %d, \"mid_max\": %d", HAK_TINY_MAX, HAK_MID_MIN, HAK_MID_MAX);
  _hak_json_array(&j, "tiny_classes", tiny, HAK_TINY_CLASSES);
  _hak_json_array(&j, "mid_classes", mid, HAK_MID_CLASSES);
  _hak_json_put(&j, ", \"mid_header_bytes\": %zu, \"tiny_header_bytes\": 0, \"mid_block_pad\": %d",
                (size_t)HAK_MID_HEADER_BYTES, HAK_MID_BLOCK_PAD);
  _hak_json_put(&j, ", \"segment_size\": %zu, \"alignment\": %d", (size_t)HAK_SEGMENT_SIZE, HAK_ALIGNMENT);
  _hak_json_put(&j, ", \"mid_chunk_offset\": %u, \"heap_offset\": %u", (unsigned)_hak_layout_mid_chunk_offset,
                (unsigned)_hak_layout_heap_offset);
  _hak_json_put(&j, ", \"large_segment_size\": %zu, \"large_huge_min\": %zu, \"large_dirty_max\": %zu",
                (size_t)1 << HAK_LARGE_SEGMENT_SHIFT, (size_t)HAK_LARGE_HUGE_MIN, (size_t)HAK_LARGE_DIRTY_MAX);
  _hak_json_put(&j, ", \"invalid_free\": \"%s\"", hak_invalid_free_mode(HAK_INVALID_FREE_MODE_QUERY) ==
                HAK_INVALID_FREE_MODE_ABORT ? "abort" : "count");
  _hak_json_put(&j, ", \"mid_magic\": %u, \"stats\": %s", (unsigned)HAK_MID_MAGIC,
                HAK_STATS ? "true" : "false");
  _hak_json_put(&j, ", \"preload\": %s, \"debug\": %s",
#if defined(HAK_PRELOAD)
                "true",
#else
                "false",
#endif
#if HAK_DEBUG
                "true"
#else
                "false"
#endif
  );
  _hak_json_put(&j, "}");
  return j.len;
}

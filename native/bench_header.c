/* bench_header.c -- the cost of the 6-B Mid header read, isolated.
 *
 * A free-path kernel pushes blocks onto per-class free lists, visiting the
 * blocks of a working set in random order, in two forms:
 *   with:    the class comes from the block's header (load class_idx and
 *            magic at ptr - 16, check the magic) -- Phase 6-B's free;
 *   without: the class comes from the caller (the size, as 6-A's free had it),
 *            a sequential, cached load -- the same work minus the header read.
 * and two orders:
 *   dependent:   the next block's index depends on the class just obtained,
 *                so nothing overlaps: the header load's latency is exposed;
 *   independent: the loads may overlap (memory-level parallelism), as in a
 *                benchmark whose next free does not wait for this one.
 * The push writes the block's first word in both forms, as a real free does;
 * that store does not stall the loop, the header load can.
 *
 * Allocator-independent: built once, with the real header layout.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The header's layout is the allocator's, never retyped: take the 6-B variant's. */
#define HAK_MID_FREE_HEADER 1
#include "hak_internal.h"


#define HC_CLASSES 8   /* per-class segment table (Mid has 6 classes by default) */

typedef struct {
  char* p;          /* user pointer: header at p - sizeof(header) */
  uint64_t size;    /* what the caller would pass: the "other way" to know the class */
} hc_visit_t;

typedef struct {
  void* free_head;
  uint64_t frees;
  char _pad[48];
} hc_seg_t;

/* Class of a size (1024 << c): what a size-aware free computes without memory.
 * ctz (tzcnt), not clz: bsr carries a false dependency on its destination,
 * which would chain the "independent" loop through a register. */
static inline uint32_t hc_class_of_size(uint64_t size) {
  return (uint32_t)__builtin_ctzll(size) - 10;
}

static inline void hc_push(hc_seg_t* segs, uint32_t cls, char* p) {
  *(void**)p = segs[cls].free_head;
  segs[cls].free_head = p;
  segs[cls].frees++;
}

static inline uint32_t hc_class_from_header(char* p, uint64_t* bad) {
  const _hak_mid_header_t* h = (const _hak_mid_header_t*)(p - sizeof(_hak_mid_header_t));
  if (_hak_unlikely(h->magic != _hak_mid_magic_at(h))) (*bad)++;
  return h->class_idx;
}

/* One pass per mode over all n blocks.  `noinline` keeps each mode's loop
 * a separate, comparable piece of code. */
__attribute__((noinline)) static void pass_dep_with(const hc_visit_t* v, size_t n, hc_seg_t* segs,
                                                    uint64_t* bad) {
  size_t j = 0;
  for (size_t k = 0; k < n; k++) {
    char* p = v[j].p;
    uint32_t cls = hc_class_from_header(p, bad);
    hc_push(segs, cls, p);
    /* cls ^ expected is 0 at run time, but the next address must wait for it. */
    j = k + 1 + (cls ^ hc_class_of_size(v[j].size));
  }
}

__attribute__((noinline)) static void pass_dep_without(const hc_visit_t* v, size_t n, hc_seg_t* segs,
                                                       uint64_t* bad) {
  (void)bad;
  size_t j = 0;
  for (size_t k = 0; k < n; k++) {
    char* p = v[j].p;
    uint32_t cls = hc_class_of_size(v[j].size);
    hc_push(segs, cls, p);
    j = k + 1 + (cls ^ hc_class_of_size(v[k].size));
  }
}

__attribute__((noinline)) static void pass_ind_with(const hc_visit_t* v, size_t n, hc_seg_t* segs,
                                                    uint64_t* bad) {
  for (size_t k = 0; k < n; k++) {
    char* p = v[k].p;
    hc_push(segs, hc_class_from_header(p, bad), p);
  }
}

__attribute__((noinline)) static void pass_ind_without(const hc_visit_t* v, size_t n, hc_seg_t* segs,
                                                       uint64_t* bad) {
  (void)bad;
  for (size_t k = 0; k < n; k++) {
    char* p = v[k].p;
    hc_push(segs, hc_class_of_size(v[k].size), p);
  }
}

typedef void (*hc_pass_fn)(const hc_visit_t*, size_t, hc_seg_t*, uint64_t*);

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

BENCH_API uint32_t bench_header_bytes(void) { return (uint32_t)sizeof(_hak_mid_header_t); }

BENCH_API int bench_header_cost(uint64_t working_set_bytes, uint32_t stride, uint64_t min_ops,
                                uint32_t reps, uint64_t seed, bench_header_result_t* out) {
  const size_t hdr = sizeof(_hak_mid_header_t);
  if (!out || stride < hdr + sizeof(void*) || (stride & 15) || reps == 0 || reps > 101) return -1;
  memset(out, 0, sizeof *out);
  const size_t n = working_set_bytes / stride;
  if (n < 2) return -1;
  size_t bytes = (n * stride + 4095) & ~(size_t)4095;
  char* base = aligned_alloc(4096, bytes);
  hc_visit_t* v = malloc((n + 1) * sizeof *v);
  size_t* perm = malloc(n * sizeof *perm);
  double* times = malloc(sizeof(double) * reps * 4);
  hc_seg_t* segs = aligned_alloc(64, sizeof(hc_seg_t) * HC_CLASSES);
  if (!base || !v || !perm || !times || !segs) {
    free(base); free(v); free(perm); free(times); free(segs);
    return -2;
  }
  memset(base, 0, bytes);
  memset(segs, 0, sizeof(hc_seg_t) * HC_CLASSES);
  uint64_t rng = seed;
  /* Every block a valid header, a random Mid class (1 KiB .. 32 KiB). */
  for (size_t i = 0; i < n; i++) {
    _hak_mid_header_t* h = (_hak_mid_header_t*)(base + i * stride);
    h->class_idx = (uint32_t)(bench_rng(&rng) % 6);
    h->magic = _hak_mid_magic_at(h);
    perm[i] = i;
  }
  for (size_t i = n - 1; i > 0; i--) {  /* Fisher-Yates: random visiting order */
    size_t j = (size_t)(bench_rng(&rng) % (i + 1));
    size_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
  }
  for (size_t k = 0; k < n; k++) {
    char* blk = base + perm[k] * stride;
    v[k].p = blk + hdr;
    v[k].size = (uint64_t)1024 << ((_hak_mid_header_t*)blk)->class_idx;
  }
  v[n] = v[0];  /* the dependent loops may read one past the end */
  free(perm);

  size_t passes = (size_t)((min_ops + n - 1) / n);
  if (passes == 0) passes = 1;
  out->blocks = n;
  out->ops_per_rep = (uint64_t)passes * n;

  static const hc_pass_fn fns[4] = {pass_dep_with, pass_dep_without, pass_ind_with, pass_ind_without};
  uint64_t bad = 0;
  for (int m = 0; m < 4; m++) fns[m](v, n, segs, &bad);   /* warm caches and TLB */
  /* Modes interleaved within each repetition, so drift hits them alike. */
  for (uint32_t r = 0; r < reps; r++) {
    for (int m = 0; m < 4; m++) {
      uint64_t t0 = bench_now_ns();
      for (size_t p = 0; p < passes; p++) fns[m](v, n, segs, &bad);
      uint64_t t1 = bench_now_ns();
      times[m * reps + r] = (double)(t1 - t0) / (double)out->ops_per_rep;
    }
  }
  double med[4], mins[4];
  for (int m = 0; m < 4; m++) {
    double* t = times + m * reps;
    qsort(t, reps, sizeof *t, cmp_double);
    mins[m] = t[0];
    med[m] = (reps & 1) ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
  }
  out->dep_ns[0] = med[0]; out->dep_ns[1] = med[1];
  out->ind_ns[0] = med[2]; out->ind_ns[1] = med[3];
  out->dep_min_ns[0] = mins[0]; out->dep_min_ns[1] = mins[1];
  out->ind_min_ns[0] = mins[2]; out->ind_min_ns[1] = mins[3];
  out->bad_magic = bad;
  uint64_t sum = 0;
  for (int c = 0; c < HC_CLASSES; c++) sum += segs[c].frees + (uint64_t)(uintptr_t)segs[c].free_head;
  out->checksum = sum;
  free(base); free(v); free(times); free(segs);
  return 0;
}

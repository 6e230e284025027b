/* bench.h -- workload drivers of the measurement engine (ctypes entry points).
 *
 * bench.c is compiled once per allocator; exactly one BENCH_ALLOC_* macro
 * selects the call path (so every allocator is driven by the same loop):
 *   BENCH_ALLOC_HAK       hak_malloc / hak_free      (links a variant's library)
 *   BENCH_ALLOC_GLIBC     malloc / free
 *   BENCH_ALLOC_MIMALLOC  mi_malloc / mi_free
 *   BENCH_ALLOC_TCMALLOC  tc_malloc / tc_free
 *   BENCH_ALLOC_JEMALLOC  mallocx / sdallocx         (sized free, as jemalloc prefers)
 * bench_header.c (the header-cost kernel) does not allocate and is built once.
 *
 * Timed loops live here, so no Python runs while the clock does.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_API __attribute__((visibility("default")))
#define BENCH_MAX_SIZES 16

/* ---- helpers shared by the drivers (inline, not exported) ----------------- */
#include <time.h>

#include "hak_atomic.h"  /* _hak_likely/_hak_unlikely, _hak_atomic_*: the allocator's spellings */

static inline uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* splitmix64: seeded, so every allocator sees the same sequence. */
static inline uint64_t bench_rng(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* ---- gap workloads (mid_mt_gap, mid_only) ------------------------------- */
/* A working set of `slots` live blocks; each op frees a random slot's block
 * and allocates a new one of a random size from `sizes` (both uniform, from
 * a seeded splitmix64), writing one byte into it.  The state lives between
 * calls so the caller can warm up, reset counters, then time. */
typedef struct bench_gap_s bench_gap_t;

BENCH_API bench_gap_t* bench_gap_open(const uint64_t* sizes, uint32_t nsizes, uint32_t slots,
                                      uint64_t seed);
/* Runs `ops` ops; returns the elapsed ns of the loop alone (CLOCK_MONOTONIC)
 * and adds the allocations made per size index to counts[nsizes]. */
BENCH_API uint64_t bench_gap_step(bench_gap_t* g, uint64_t ops, uint64_t* counts);
/* The generator's state: equal states after equal calls = the same sequence. */
BENCH_API uint64_t bench_gap_rng_state(const bench_gap_t* g);
/* BENCH_MAX_SIZES, for callers that size bench_remote_result_t.counts (reportgen reads it). */
BENCH_API uint32_t bench_max_sizes(void);
BENCH_API void bench_gap_close(bench_gap_t* g);   /* frees every live block */

/* ---- mt_remote ----------------------------------------------------------- */
/* `threads` threads in a ring: thread i allocates blocks and hands them to
 * thread i+1 through a lock-free single-producer/single-consumer ring, and
 * frees what thread i-1 hands it, so every free is a cross-thread free. */
typedef struct {
  uint64_t elapsed_ns;              /* from the start signal until every thread finished */
  uint64_t ops;                     /* allocations (= frees), all threads */
  uint64_t counts[BENCH_MAX_SIZES]; /* allocations per size index */
  uint64_t alloc_failures;
} bench_remote_result_t;

BENCH_API int bench_remote(const uint64_t* sizes, uint32_t nsizes, uint32_t threads, uint64_t ops,
                           uint64_t seed, bench_remote_result_t* out);

/* ---- header cost (bench_header.c) ---------------------------------------- */
typedef struct {
  /* median ns per free over `reps` repetitions; [0] with the header load, [1] without */
  double dep_ns[2];     /* dependent chain: the next block's index needs this one's class */
  double ind_ns[2];     /* independent: loads may overlap (memory-level parallelism) */
  double dep_min_ns[2]; /* fastest repetition, for reference */
  double ind_min_ns[2];
  uint64_t blocks;      /* blocks in the working set */
  uint64_t ops_per_rep; /* frees per timed repetition */
  uint64_t bad_magic;   /* must stay 0: every header is valid */
  uint64_t checksum;    /* defeats dead-code elimination */
} bench_header_result_t;

BENCH_API int bench_header_cost(uint64_t working_set_bytes, uint32_t stride, uint64_t min_ops,
                                uint32_t reps, uint64_t seed, bench_header_result_t* out);
BENCH_API uint32_t bench_header_bytes(void);  /* sizeof the real 6-B header */

#endif

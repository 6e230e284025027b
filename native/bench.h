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
/* Copies up to `max` live blocks (user pointers, as integers) and their size
 * indices; returns how many it copied.  Not timed: for the placement view. */
BENCH_API uint32_t bench_gap_addresses(const bench_gap_t* g, uint64_t* addr, uint8_t* size_index,
                                       uint32_t max);
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

/* ---- retention ------------------------------------------------------------ */
/* Memory an allocator keeps after a program's working set shrinks: one cycle
 * (one timed loop) runs four phases over a working set of `slots` blocks and
 * reads the resident set after each (outside the clock):
 *   grow     allocate `slots` blocks of sizes drawn from `sizes`, writing one
 *            byte in every page each block spans (so RSS counts the pages a
 *            program using them would);
 *   thin     free all but every `keep`-th of them (the survivors);
 *   regrow   allocate `slots` blocks of sizes drawn from `sizes_after`, other
 *            sizes: memory the thinned blocks left is reused only by an
 *            allocator that can cut it to other sizes (or gives it back);
 *   release  free the regrown blocks and the previous cycle's survivors, so a
 *            survivor lives one cycle and the cycles reach a steady state.
 * The state lives between calls (as the gap driver's): set up, warm up, reset
 * counters, then time. */
#define BENCH_RETENTION_PHASES 4   /* grow, thin, regrow, release */

typedef struct bench_retention_s bench_retention_t;

typedef struct {
  uint64_t elapsed_ns;                     /* the phases' time together (the RSS reads excluded) */
  uint64_t ops;                            /* allocations (grow + regrow), all cycles of the call */
  uint64_t phase_ns[BENCH_RETENTION_PHASES];
  uint64_t rss_kb[BENCH_RETENTION_PHASES]; /* resident set after each phase of the last cycle (0: unread) */
  uint64_t counts[BENCH_MAX_SIZES];        /* grow's allocations per index of `sizes` */
  uint64_t counts_after[BENCH_MAX_SIZES];  /* regrow's per index of `sizes_after` */
  uint64_t alloc_failures;
} bench_retention_result_t;

BENCH_API bench_retention_t* bench_retention_open(const uint64_t* sizes, uint32_t nsizes,
                                                  const uint64_t* sizes_after, uint32_t nafter,
                                                  uint32_t slots, uint32_t keep, uint64_t seed);
/* Runs `cycles` cycles (at least 1); fills *out (this call's totals, the last
 * cycle's RSS).  Returns 0, or -1 for bad arguments. */
BENCH_API int bench_retention_step(bench_retention_t* r, uint64_t cycles, bench_retention_result_t* out);
/* BENCH_RETENTION_PHASES, for callers that size the result (reportgen reads it). */
BENCH_API uint32_t bench_retention_phases(void);
BENCH_API void bench_retention_close(bench_retention_t* r);   /* frees the survivors left */

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

/* bench.c -- workload drivers, one build per allocator (see bench.h). */
#define _GNU_SOURCE
#include "bench.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Exact counts (reportgen counts): callgrind collects only inside the timed loops, started with
 * --instr-atstart=no.  The macros are no-ops outside valgrind, and absent without its headers. */
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define BENCH_COUNT_START() CALLGRIND_START_INSTRUMENTATION
#define BENCH_COUNT_STOP()  CALLGRIND_STOP_INSTRUMENTATION
#endif
#endif
#ifndef BENCH_COUNT_START
#define BENCH_COUNT_START() ((void)0)
#define BENCH_COUNT_STOP()  ((void)0)
#endif

#if defined(BENCH_ALLOC_HAK) + defined(BENCH_ALLOC_GLIBC) + defined(BENCH_ALLOC_MIMALLOC) + \
    defined(BENCH_ALLOC_TCMALLOC) + defined(BENCH_ALLOC_JEMALLOC) != 1
#error "define exactly one BENCH_ALLOC_* (see bench.h)"
#endif


/* ---- the call path: the only allocator-specific lines ------------------- */
#if defined(BENCH_ALLOC_HAK)
#include "hak.h"
#define BENCH_MALLOC(sz)   hak_malloc(sz)
#define BENCH_FREE(p, sz)  hak_free(p)
#elif defined(BENCH_ALLOC_GLIBC)
#define BENCH_MALLOC(sz)   malloc(sz)
#define BENCH_FREE(p, sz)  free(p)
#elif defined(BENCH_ALLOC_MIMALLOC)
/* Declared here: Debian ships the library without its header. */
void* mi_malloc(size_t size);
void  mi_free(void* p);
#define BENCH_MALLOC(sz)   mi_malloc(sz)
#define BENCH_FREE(p, sz)  mi_free(p)
#elif defined(BENCH_ALLOC_TCMALLOC)
void* tc_malloc(size_t size);
void  tc_free(void* p);
#define BENCH_MALLOC(sz)   tc_malloc(sz)
#define BENCH_FREE(p, sz)  tc_free(p)
#elif defined(BENCH_ALLOC_JEMALLOC)
void* mallocx(size_t size, int flags);
void  sdallocx(void* p, size_t size, int flags);
#define BENCH_MALLOC(sz)   mallocx((sz), 0)
#define BENCH_FREE(p, sz)  sdallocx((p), (sz), 0)
#endif

/* A free that needs the block's size (jemalloc's sdallocx): only then does a timed loop keep each
 * slot's size index as it goes. */
#if defined(BENCH_ALLOC_JEMALLOC)
#define BENCH_SIZED_FREE 1
#else
#define BENCH_SIZED_FREE 0
#endif

/* ---- shared helpers ------------------------------------------------------ */
/* Uniform in [0, n) from 32 random bits, without a division (Lemire). */
static inline uint32_t bench_below(uint32_t bits, uint32_t n) {
  return (uint32_t)(((uint64_t)bits * n) >> 32);
}

static inline void* bench_alloc_touch(size_t size) {
  void* p = BENCH_MALLOC(size);
  /* One written byte per block: the allocator cannot hand out memory it never maps. */
  /* A constant, not the size: the size need not live across the call (one register fewer in a loop
   * that calls out twice an op). */
  if (_hak_likely(p != NULL)) *(volatile char*)p = 1;
  return p;
}

/* ---- gap workloads ---------------------------------------------------------- */
struct bench_gap_s {
  uint64_t sizes[BENCH_MAX_SIZES];
  uint32_t nsizes, slots;
  uint64_t rng;
  void** ptr;      /* live block of each slot */
  uint8_t* kidx;   /* its size index (jemalloc's sized free needs the size) */
};

BENCH_API bench_gap_t* bench_gap_open(const uint64_t* sizes, uint32_t nsizes, uint32_t slots,
                                      uint64_t seed) {
  if (nsizes == 0 || nsizes > BENCH_MAX_SIZES || slots == 0) return NULL;
  /* Driver bookkeeping comes from the C library, whatever allocator is measured. */
  bench_gap_t* g = calloc(1, sizeof *g);
  if (!g) return NULL;
  memcpy(g->sizes, sizes, nsizes * sizeof *sizes);
  g->nsizes = nsizes;
  g->slots = slots;
  g->rng = seed;
  g->ptr = calloc(slots, sizeof *g->ptr);
  g->kidx = calloc(slots, 1);
  if (!g->ptr || !g->kidx) { free(g->ptr); free(g->kidx); free(g); return NULL; }
  for (uint32_t s = 0; s < slots; s++) {   /* fill the working set before any timing */
    uint32_t k = bench_below((uint32_t)bench_rng(&g->rng), nsizes);
    g->kidx[s] = (uint8_t)k;
    g->ptr[s] = bench_alloc_touch(sizes[k]);
  }
  return g;
}

BENCH_API uint64_t bench_gap_step(bench_gap_t* g, uint64_t ops, uint64_t* counts) {
  uint64_t local[BENCH_MAX_SIZES] = {0};
  const uint64_t* sizes = g->sizes;
  void** ptr = g->ptr;
  uint8_t* kidx = g->kidx;
  const uint32_t nsizes = g->nsizes, slots = g->slots;
  uint64_t rng = g->rng;
  BENCH_COUNT_START();
  const uint64_t t0 = bench_now_ns();
  for (uint64_t i = 0; i < ops; i++) {
    const uint64_t r = bench_rng(&rng);
    const uint32_t s = bench_below((uint32_t)(r >> 32), slots);
    const uint32_t k = bench_below((uint32_t)r, nsizes);
    BENCH_FREE(ptr[s], sizes[kidx[s]]);
    ptr[s] = bench_alloc_touch(sizes[k]);
    if (BENCH_SIZED_FREE) kidx[s] = (uint8_t)k;
  }
  const uint64_t t1 = bench_now_ns();
  BENCH_COUNT_STOP();
  /* The loop's bookkeeping (each slot's size index, the requests per size), replayed from the same
   * random stream with the clock and the counting stopped: a store per op and a counter bumped
   * through memory showed in tcmalloc's few ns an op (benchmarks/harness_overhead.py). */
  uint64_t replay = g->rng;
  for (uint64_t i = 0; i < ops; i++) {
    const uint64_t r = bench_rng(&replay);
    const uint32_t s = bench_below((uint32_t)(r >> 32), slots);
    const uint32_t k = bench_below((uint32_t)r, nsizes);
    kidx[s] = (uint8_t)k;
    local[k]++;
  }
  g->rng = rng;
  if (counts)
    for (uint32_t k = 0; k < nsizes; k++) counts[k] += local[k];
  return t1 - t0;
}

BENCH_API uint64_t bench_gap_rng_state(const bench_gap_t* g) { return g->rng; }

BENCH_API uint32_t bench_max_sizes(void) { return BENCH_MAX_SIZES; }

/* Where the working set lives (reportgen placement): called between steps, never timed. */
BENCH_API uint32_t bench_gap_addresses(const bench_gap_t* g, uint64_t* addr, uint8_t* size_index,
                                       uint32_t max) {
  uint32_t n = 0;
  for (uint32_t s = 0; s < g->slots && n < max; s++) {
    if (g->ptr[s] == NULL) continue;   /* an allocation that failed holds no block */
    addr[n] = (uint64_t)(uintptr_t)g->ptr[s];
    size_index[n] = g->kidx[s];
    n++;
  }
  return n;
}

BENCH_API void bench_gap_close(bench_gap_t* g) {
  if (!g) return;
  for (uint32_t s = 0; s < g->slots; s++)
    if (g->ptr[s]) BENCH_FREE(g->ptr[s], g->sizes[g->kidx[s]]);
  free(g->ptr);
  free(g->kidx);
  free(g);
}

/* ---- mt_remote ---------------------------------------------------------------- */
#define RING_SIZE 512u  /* power of two */

typedef struct {
  void* p;
  uint64_t k;
} ring_entry_t;

/* Single producer, single consumer; head and tail on their own cache lines. */
typedef struct {
  _Alignas(64) _Atomic uint64_t head;  /* next to consume (consumer writes) */
  _Alignas(64) _Atomic uint64_t tail;  /* next to fill (producer writes) */
  _Alignas(64) ring_entry_t e[RING_SIZE];
} ring_t;

typedef struct {
  _Alignas(64) uint32_t id, threads;  /* one cache line apart: no false sharing between threads */
  uint64_t my_ops;
  uint64_t rng;
  const uint64_t* sizes;
  uint32_t nsizes;
  ring_t* out;            /* to the next thread */
  ring_t* in;             /* from the previous thread */
  _Atomic int* go;
  uint64_t counts[BENCH_MAX_SIZES];
  uint64_t alloc_failures;
  uint64_t done_ns;
} remote_thread_t;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static void* remote_main(void* arg) {
  remote_thread_t* t = arg;
  while (!_hak_atomic_load_acquire(t->go)) cpu_relax();
  uint64_t produced = 0, consumed = 0, idle = 0;
  const uint64_t n = t->my_ops;  /* every thread makes and takes the same number */
  while (produced < n || consumed < n) {
    int progress = 0;
    if (produced < n) {
      uint64_t tail = _hak_atomic_load_relaxed(&t->out->tail);
      uint64_t head = _hak_atomic_load_acquire(&t->out->head);
      if (tail - head < RING_SIZE) {
        uint32_t k = bench_below((uint32_t)bench_rng(&t->rng), t->nsizes);
        void* p = bench_alloc_touch(t->sizes[k]);
        if (_hak_unlikely(p == NULL)) t->alloc_failures++;
        t->out->e[tail & (RING_SIZE - 1)] = (ring_entry_t){p, k};
        _hak_atomic_store_release(&t->out->tail, tail + 1);
        t->counts[k]++;
        produced++;
        progress = 1;
      }
    }
    if (consumed < n) {
      uint64_t head = _hak_atomic_load_relaxed(&t->in->head);
      uint64_t tail = _hak_atomic_load_acquire(&t->in->tail);
      if (head < tail) {
        ring_entry_t e = t->in->e[head & (RING_SIZE - 1)];
        _hak_atomic_store_release(&t->in->head, head + 1);
        if (e.p) BENCH_FREE(e.p, t->sizes[e.k]);   /* a block another thread allocated (NULL: failed) */
        consumed++;
        progress = 1;
      }
    }
    if (!progress) {
      /* More threads than cores: let the partner run instead of spinning. */
      if (++idle > 1000) { sched_yield(); idle = 0; } else cpu_relax();
    }
  }
  t->done_ns = bench_now_ns();
  return NULL;
}

BENCH_API int bench_remote(const uint64_t* sizes, uint32_t nsizes, uint32_t threads, uint64_t ops,
                           uint64_t seed, bench_remote_result_t* out) {
  if (nsizes == 0 || nsizes > BENCH_MAX_SIZES || threads < 2 || threads > 256 || !out) return -1;
  memset(out, 0, sizeof *out);
  uint64_t per = ops / threads;
  if (per == 0) return -1;
  ring_t* rings = aligned_alloc(64, sizeof(ring_t) * threads);
  remote_thread_t* ts = calloc(threads, sizeof *ts);
  pthread_t* tids = calloc(threads, sizeof *tids);
  if (!rings || !ts || !tids) { free(rings); free(ts); free(tids); return -2; }
  memset(rings, 0, sizeof(ring_t) * threads);
  _Atomic int go = 0;
  uint64_t seeder = seed;
  for (uint32_t i = 0; i < threads; i++) {
    ts[i] = (remote_thread_t){.id = i, .threads = threads, .my_ops = per, .rng = bench_rng(&seeder),
                              .sizes = sizes, .nsizes = nsizes, .out = &rings[i],
                              .in = &rings[(i + threads - 1) % threads], .go = &go};
  }
  uint32_t started = 0;
  int rc = 0;
  for (; started < threads; started++)
    if (pthread_create(&tids[started], NULL, remote_main, &ts[started]) != 0) { rc = -3; break; }
  if (rc != 0) {
    /* Cannot run a partial ring: release the started threads with nothing to do. */
    for (uint32_t i = 0; i < started; i++) ts[i].my_ops = 0;
  }
  BENCH_COUNT_START();
  const uint64_t t0 = bench_now_ns();
  _hak_atomic_store_release(&go, 1);
  for (uint32_t i = 0; i < started; i++) pthread_join(tids[i], NULL);
  BENCH_COUNT_STOP();
  uint64_t t1 = t0;
  for (uint32_t i = 0; i < started; i++) if (ts[i].done_ns > t1) t1 = ts[i].done_ns;
  out->elapsed_ns = t1 - t0;
  for (uint32_t i = 0; i < threads; i++) {
    out->ops += (rc == 0) ? per : 0;
    out->alloc_failures += ts[i].alloc_failures;
    for (uint32_t k = 0; k < nsizes; k++) out->counts[k] += ts[i].counts[k];
  }
  free(rings);
  free(ts);
  free(tids);
  return rc;
}

/* ---- retention ------------------------------------------------------------------ */
/* Pages are written 4 KiB apart: the smallest page of the machines measured, so every page a block
 * spans holds a written byte, whatever the page size. */
#define BENCH_TOUCH_STRIDE 4096u

struct bench_retention_s {
  uint64_t sizes[BENCH_MAX_SIZES], sizes_after[BENCH_MAX_SIZES];
  uint32_t nsizes, nafter, slots, keep, nsurv;
  uint64_t rng;
  uint64_t page_kb;   /* this machine's page, for the resident set's count of pages */
  void** grow;        /* the cycle's grown blocks (slot s), then its survivors */
  uint8_t* grow_k;    /* their size indices into sizes */
  void** regrow;      /* the cycle's regrown blocks */
  uint8_t* regrow_k;  /* their size indices into sizes_after */
  void** surv;        /* the previous cycle's survivors, freed by this cycle's release */
  uint8_t* surv_k;
  uint32_t live_surv; /* how many of surv hold blocks (0 before the first cycle) */
};

/* Allocates and writes one byte in every page the block spans (its first byte, then each page
 * boundary inside it): RSS then holds the block as a program that uses it would, not the one page a
 * single write maps, so memory an allocator keeps for it shows. */
static inline void* bench_alloc_pages(size_t size) {
  char* p = BENCH_MALLOC(size);
  if (_hak_unlikely(p == NULL)) return NULL;
  const char v = (char)size;
  *(volatile char*)p = v;
  char* end = p + size;
  for (char* q = (char*)(((uintptr_t)p + BENCH_TOUCH_STRIDE) & ~(uintptr_t)(BENCH_TOUCH_STRIDE - 1)); q < end;
       q += BENCH_TOUCH_STRIDE)
    *(volatile char*)q = v;
  return p;
}

/* The resident set now (kB), from /proc/self/statm's second field; 0 when it cannot be read.  Called
 * with the clock stopped.  open/read on a stack buffer: nothing here allocates (under glibc the
 * allocator measured is the C library's own malloc). */
static uint64_t bench_rss_kb(uint64_t page_kb) {
  char buf[160];
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* c = buf;
  while (*c && *c != ' ') c++;   /* skip the first field (the whole mapping's size) */
  uint64_t pages = 0;
  while (*c == ' ') c++;
  for (; *c >= '0' && *c <= '9'; c++) pages = pages * 10 + (uint64_t)(*c - '0');
  return pages * page_kb;
}

BENCH_API bench_retention_t* bench_retention_open(const uint64_t* sizes, uint32_t nsizes,
                                                  const uint64_t* sizes_after, uint32_t nafter,
                                                  uint32_t slots, uint32_t keep, uint64_t seed) {
  if (nsizes == 0 || nsizes > BENCH_MAX_SIZES || nafter == 0 || nafter > BENCH_MAX_SIZES || slots == 0 ||
      keep < 2)
    return NULL;
  /* Driver bookkeeping comes from the C library, whatever allocator is measured. */
  bench_retention_t* r = calloc(1, sizeof *r);
  if (!r) return NULL;
  memcpy(r->sizes, sizes, nsizes * sizeof *sizes);
  memcpy(r->sizes_after, sizes_after, nafter * sizeof *sizes_after);
  r->nsizes = nsizes;
  r->nafter = nafter;
  r->slots = slots;
  r->keep = keep;
  r->nsurv = (slots + keep - 1) / keep;   /* slots 0, keep, 2 keep, ... survive */
  r->rng = seed;
  long page = sysconf(_SC_PAGESIZE);
  r->page_kb = (uint64_t)(page > 0 ? page : 4096) / 1024;
  r->grow = calloc(slots, sizeof *r->grow);
  r->grow_k = calloc(slots, 1);
  r->regrow = calloc(slots, sizeof *r->regrow);
  r->regrow_k = calloc(slots, 1);
  r->surv = calloc(r->nsurv, sizeof *r->surv);
  r->surv_k = calloc(r->nsurv, 1);
  if (!r->grow || !r->grow_k || !r->regrow || !r->regrow_k || !r->surv || !r->surv_k) {
    bench_retention_close(r);
    return NULL;
  }
  return r;
}

/* The end of one retention phase: its time added up, then its resident set read with the clock and the
 * counting stopped (the read is not the workload's). */
#define RETENTION_PHASE_END(i)                                   \
  do {                                                           \
    out->phase_ns[i] += bench_now_ns() - t0;                     \
    BENCH_COUNT_STOP();                                          \
    out->rss_kb[i] = bench_rss_kb(r->page_kb);                   \
    BENCH_COUNT_START();                                         \
  } while (0)

BENCH_API int bench_retention_step(bench_retention_t* r, uint64_t cycles, bench_retention_result_t* out) {
  if (!r || !out || cycles == 0) return -1;
  memset(out, 0, sizeof *out);
  const uint32_t slots = r->slots, keep = r->keep, nsizes = r->nsizes, nafter = r->nafter;
  uint64_t rng = r->rng, failures = 0;
  BENCH_COUNT_START();
  for (uint64_t c = 0; c < cycles; c++) {
    uint64_t t0 = bench_now_ns();
    for (uint32_t s = 0; s < slots; s++) {                               /* grow */
      const uint32_t k = bench_below((uint32_t)bench_rng(&rng), nsizes);
      r->grow_k[s] = (uint8_t)k;
      r->grow[s] = bench_alloc_pages(r->sizes[k]);
      failures += r->grow[s] == NULL;
      out->counts[k]++;
    }
    RETENTION_PHASE_END(0);

    t0 = bench_now_ns();
    for (uint32_t s = 0; s < slots; s++)                                 /* thin */
      if (s % keep != 0 && r->grow[s]) BENCH_FREE(r->grow[s], r->sizes[r->grow_k[s]]);
    RETENTION_PHASE_END(1);

    t0 = bench_now_ns();
    for (uint32_t s = 0; s < slots; s++) {                               /* regrow */
      const uint32_t k = bench_below((uint32_t)bench_rng(&rng), nafter);
      r->regrow_k[s] = (uint8_t)k;
      r->regrow[s] = bench_alloc_pages(r->sizes_after[k]);
      failures += r->regrow[s] == NULL;
      out->counts_after[k]++;
    }
    RETENTION_PHASE_END(2);

    t0 = bench_now_ns();
    for (uint32_t s = 0; s < slots; s++)                                 /* release */
      if (r->regrow[s]) BENCH_FREE(r->regrow[s], r->sizes_after[r->regrow_k[s]]);
    for (uint32_t j = 0; j < r->live_surv; j++)
      if (r->surv[j]) BENCH_FREE(r->surv[j], r->sizes[r->surv_k[j]]);
    for (uint32_t j = 0; j < r->nsurv; j++) {   /* this cycle's survivors live into the next */
      r->surv[j] = r->grow[j * keep];
      r->surv_k[j] = r->grow_k[j * keep];
    }
    r->live_surv = r->nsurv;
    RETENTION_PHASE_END(3);
  }
  BENCH_COUNT_STOP();
  r->rng = rng;
  for (uint32_t p = 0; p < BENCH_RETENTION_PHASES; p++) out->elapsed_ns += out->phase_ns[p];
  out->ops = 2 * (uint64_t)slots * cycles;
  out->alloc_failures = failures;
  return 0;
}

BENCH_API uint32_t bench_retention_phases(void) { return BENCH_RETENTION_PHASES; }

BENCH_API void bench_retention_close(bench_retention_t* r) {
  if (!r) return;
  if (r->surv)
    for (uint32_t j = 0; j < r->live_surv; j++)
      if (r->surv[j]) BENCH_FREE(r->surv[j], r->sizes[r->surv_k[j]]);
  free(r->grow);
  free(r->grow_k);
  free(r->regrow);
  free(r->regrow_k);
  free(r->surv);
  free(r->surv_k);
  free(r);
}

/* harness_gap.c -- mid_mt_gap as a stand-alone program, without the lab's harness.
 *
 * The yardstick for benchmarks/harness_overhead.py: the lab's figures (ctypes,
 * a child process, the driver in a shared library) must agree with this
 * minimal loop.  Written separately from native/bench.c on purpose; it only
 * shares the recipe: 256 slots, sizes {1,2,4,8} KiB uniform, splitmix64 with
 * the same seed, one written byte per block, warm-up, one loop discarded (as the tool's
 * session processes discard their first), then the timed loop.
 *
 * usage: harness_gap OPS WARMUP_OPS SEED   -> prints "<elapsed ns> <ops>"
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifdef STANDALONE_TCMALLOC
void* tc_malloc(size_t size);
void tc_free(void* p);
#define ALLOC(sz) tc_malloc(sz)
#define FREE(p) tc_free(p)
#else
#define ALLOC(sz) malloc(sz)
#define FREE(p) free(p)
#endif

#define SLOTS 256

static uint64_t next(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static const size_t sizes[4] = {1024, 2048, 4096, 8192};
static void* slot[SLOTS];

static void run(uint64_t ops, uint64_t* rng) {
  for (uint64_t i = 0; i < ops; i++) {
    uint64_t r = next(rng);
    uint32_t s = (uint32_t)(((r >> 32) * SLOTS) >> 32);
    uint32_t k = (uint32_t)(((r & 0xffffffffu) * 4) >> 32);
    FREE(slot[s]);
    char* p = ALLOC(sizes[k]);
    *(volatile char*)p = 1;
    slot[s] = p;
  }
}

int main(int argc, char** argv) {
  if (argc != 4) { fprintf(stderr, "usage: %s OPS WARMUP_OPS SEED\n", argv[0]); return 2; }
  uint64_t ops = strtoull(argv[1], NULL, 10), warm = strtoull(argv[2], NULL, 10);
  uint64_t rng = strtoull(argv[3], NULL, 10);
  for (int s = 0; s < SLOTS; s++) {
    uint64_t r = next(&rng);
    char* p = ALLOC(sizes[(uint32_t)(((r & 0xffffffffu) * 4) >> 32)]);
    *(volatile char*)p = 1;
    slot[s] = p;
  }
  run(warm, &rng);
  run(ops, &rng);   /* discarded, as a session's first loop is */
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  run(ops, &rng);
  clock_gettime(CLOCK_MONOTONIC, &b);
  uint64_t ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ull + (uint64_t)(b.tv_nsec - a.tv_nsec);
  printf("%llu %llu\n", (unsigned long long)ns, (unsigned long long)ops);
  for (int s = 0; s < SLOTS; s++) FREE(slot[s]);
  return 0;
}

/* memory_gap.c -- a gap workload as a stand-alone program, for the memory yardstick.
 *
 * benchmarks/memory_agreement.py runs it with an allocator preloaded (LD_PRELOAD) and sets the
 * kernel's own high-water mark of this process's resident set (VmHWM, /proc/self/status) beside
 * the lab's figure: written separately from native/bench.c and measured another way (the kernel's
 * peak over the whole run, not a statm read after each timed loop).  The recipe is the lab's:
 * SLOTS live blocks, sizes drawn uniformly, splitmix64 from SEED, one written byte per block,
 * warm-up, then the loop.
 *
 * usage: memory_gap OPS WARMUP_OPS SEED SLOTS SIZE [SIZE ...]
 *   -> prints "<VmRSS at start, kB> <VmHWM at the end, kB> <VmRSS at the end, kB>"
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* A field of /proc/self/status in kB ("VmRSS:", "VmHWM:"), or -1. */
static long status_kb(const char* field) {
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, field, strlen(field)) == 0) {
      kb = strtol(line + strlen(field), NULL, 10);
      break;
    }
  }
  fclose(f);
  return kb;
}

int main(int argc, char** argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s OPS WARMUP_OPS SEED SLOTS SIZE [SIZE ...]\n", argv[0]);
    return 2;
  }
  long start_kb = status_kb("VmRSS:");          /* before the workload allocates anything */
  uint64_t ops = strtoull(argv[1], NULL, 10), warm = strtoull(argv[2], NULL, 10);
  uint64_t rng = strtoull(argv[3], NULL, 10);
  uint32_t slots = (uint32_t)strtoul(argv[4], NULL, 10), nsizes = (uint32_t)(argc - 5);
  size_t* sizes = malloc(nsizes * sizeof *sizes);
  void** slot = calloc(slots, sizeof *slot);
  if (!sizes || !slot) return 1;
  for (uint32_t i = 0; i < nsizes; i++) sizes[i] = strtoull(argv[5 + i], NULL, 10);
  for (uint32_t s = 0; s < slots; s++) {
    uint64_t r = next(&rng);
    char* p = malloc(sizes[(uint32_t)(((r & 0xffffffffu) * nsizes) >> 32)]);
    *(volatile char*)p = 1;
    slot[s] = p;
  }
  for (uint64_t i = 0; i < warm + ops; i++) {
    uint64_t r = next(&rng);
    uint32_t s = (uint32_t)(((r >> 32) * slots) >> 32);
    uint32_t k = (uint32_t)(((r & 0xffffffffu) * nsizes) >> 32);
    free(slot[s]);
    char* p = malloc(sizes[k]);
    *(volatile char*)p = 1;
    slot[s] = p;
  }
  printf("%ld %ld %ld\n", start_kb, status_kb("VmHWM:"), status_kb("VmRSS:"));
  for (uint32_t s = 0; s < slots; s++) free(slot[s]);
  free(slot);
  free(sizes);
  return 0;
}

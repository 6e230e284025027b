/* large_loops.c -- timed loops of Large malloc/free and realloc, for
 * benchmarks/large_vs_glibc.py, which runs this one program under glibc and
 * under hak's LD_PRELOAD library side by side.
 *
 * usage: large_loops WORKLOAD  ->  prints "<ns> <ops>" (the timed loop only)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void* launder(void* p) { __asm__ volatile("" : "+r"(p)); return p; }
static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}
static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

/* malloc(size), touch, free: the same block over and over */
static uint64_t pairs(size_t size, int n) {
  for (int i = 0; i < n; i++) {
    char* p = launder(malloc(size));
    p[0] = (char)i;
    free(launder(p));
  }
  return (uint64_t)n;
}

/* 64 live blocks of 33 KiB .. 1 MiB, a random one replaced each step */
static uint64_t churn(int n) {
  enum { SLOTS = 64 };
  char* slot[SLOTS] = {0};
  for (int i = 0; i < n; i++) {
    int k = (int)(next() % SLOTS);
    free(slot[k]);
    size_t size = 33000 + (size_t)(next() % (1u << 20));
    slot[k] = malloc(size);
    slot[k][0] = slot[k][size - 1] = 1;
  }
  for (int k = 0; k < SLOTS; k++) free(slot[k]);
  return (uint64_t)n;
}

/* one buffer grown in 4 KiB steps from 4 KiB to `top` bytes, written at each step */
static uint64_t grow(size_t top, int rounds) {
  uint64_t ops = 0;
  for (int r = 0; r < rounds; r++) {
    char* buf = NULL;
    for (size_t size = 4096; size <= top; size += 4096, ops++) {
      buf = realloc(buf, size);
      buf[size - 1] = 1;
    }
    free(buf);
  }
  return ops;
}

/* a 40 KB .. 400 KB block resized up and down at random */
static uint64_t resize(int n) {
  char* buf = malloc(40000);
  for (int i = 0; i < n; i++) {
    size_t size = 40000 + (size_t)(next() % 360000);
    buf = realloc(buf, size);
    buf[size - 1] = 1;
  }
  free(buf);
  return (uint64_t)n;
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const char* w = argv[1];
  uint64_t (*run)(void) = NULL;
  uint64_t t0 = now_ns(), ops;
  if (!strcmp(w, "pairs_40k")) ops = pairs(40000, 200000);
  else if (!strcmp(w, "pairs_256k")) ops = pairs(256 << 10, 100000);
  else if (!strcmp(w, "pairs_8m")) ops = pairs(8 << 20, 2000);
  else if (!strcmp(w, "churn")) ops = churn(200000);
  else if (!strcmp(w, "grow_64m")) ops = grow(64u << 20, 1);
  else if (!strcmp(w, "resize")) ops = resize(100000);
  else return 2;
  (void)run;
  uint64_t ns = now_ns() - t0;
  printf("%llu %llu\n", (unsigned long long)ns, (unsigned long long)ops);
  return 0;
}

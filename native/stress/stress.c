/* stress.c -- four allocator stress programs, after the published descriptions of the classic tests.
 *
 * One executable, run with the allocator under test preloaded (LD_PRELOAD), like a real program:
 *
 *   stress larson  THREADS ROUNDS [MIN MAX]   server simulation: each thread replaces random blocks of a
 *                                      working set, then hands the set to a thread of the next round,
 *                                      which frees blocks another thread allocated (after Larson and
 *                                      Krishnan, "Memory allocation for long-running server
 *                                      applications", ISMM 1998)
 *   stress xmalloc THREADS BLOCKS [MIN MAX]   producer/consumer: half the threads allocate and pass blocks
 *                                      through a queue, the other half free them (after xmalloc-test)
 *   stress scratch THREADS ITERATIONS  false sharing: the main thread allocates one small block per
 *                                      thread and hands it over; each thread frees it, then allocates,
 *                                      writes and frees small blocks in a loop (after Hoard's
 *                                      cache-scratch)
 *   stress mstress THREADS ROUNDS      mixed sizes, mostly small with some large, random lifetimes,
 *                                      and a long-lived part of each thread's working set kept for
 *                                      the whole run (after mimalloc-bench's mstress)
 *
 * Written for this lab from those descriptions, not copied.  Every thread draws from its own seeded
 * generator, so what the program prints (counts and checksums of the bytes it wrote, never an
 * address or a time) is the same under every allocator: a run whose output differs is a failure.
 * Exit status 0, or 1 with a line on stderr when an allocation fails or a block's bytes changed.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STRESS_MAX_THREADS 64
#define STRESS_MAX_BLOCK (1u << 20)     /* larger than any block a test asks for */

static uint64_t stress_rng(uint64_t* s) {   /* splitmix64 */
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint32_t stress_below(uint64_t bits, uint32_t n) { return (uint32_t)(((bits >> 32) * n) >> 32); }

static void stress_die(const char* what) {   /* from any thread: no atexit handler runs beside the others */
  fprintf(stderr, "stress: %s\n", what);
  fflush(stderr);
  _exit(1);
}

static void* stress_alloc(size_t size) {
  void* p = malloc(size);
  if (!p) stress_die("an allocation failed");
  return p;
}

/* A block carries its size and a tag in its first bytes, and the tag's low byte in its last byte:
 * freeing checks that they still agree, which catches a block overwritten past its head or one whose
 * head names a size the block cannot have.  (A block handed out twice and rewritten whole by its
 * second owner still agrees with itself; the checksum of the tags freed, printed at the end, differs
 * then.) */
typedef struct { uint64_t size, tag; } stress_head_t;

static void* stress_block(size_t size, uint64_t tag) {
  if (size < sizeof(stress_head_t) + 1) size = sizeof(stress_head_t) + 1;
  unsigned char* p = stress_alloc(size);
  stress_head_t h = {size, tag};
  memcpy(p, &h, sizeof h);
  p[size - 1] = (unsigned char)tag;
  return p;
}

static uint64_t stress_release(void* block) {
  unsigned char* p = block;
  stress_head_t h;
  memcpy(&h, p, sizeof h);
  if (h.size < sizeof h + 1 || h.size > STRESS_MAX_BLOCK) stress_die("a block's head changed while it was live");
  if (p[h.size - 1] != (unsigned char)h.tag) stress_die("a block's bytes changed while it was live");
  free(p);
  return h.tag ^ h.size;
}

/* The block sizes of larson and xmalloc: [stress_min, stress_max] bytes (the classic tests' small
 * blocks by default; MIN MAX on the command line move them, e.g. into hak's Mid pool). */
static uint32_t stress_min, stress_max;

static size_t stress_size(uint64_t bits) { return stress_min + stress_below(bits, stress_max - stress_min + 1); }

static int stress_threads(const char* arg) {
  int t = atoi(arg);
  if (t < 1 || t > STRESS_MAX_THREADS) stress_die("THREADS must be 1..64");
  return t;
}

/* ---- larson ------------------------------------------------------------------------------------ */
#define LARSON_SLOTS 2000
#define LARSON_OPS 20000          /* replacements per thread per round */

typedef struct {
  void* slot[LARSON_SLOTS];
  uint64_t rng, sum, ops;
} larson_set_t;

static void* larson_thread(void* arg) {
  larson_set_t* set = arg;
  uint64_t rng = set->rng, sum = 0;   /* locals: the threads' own counters share no cache line */
  for (int i = 0; i < LARSON_OPS; i++) {
    uint64_t r = stress_rng(&rng);
    uint32_t s = stress_below(r, LARSON_SLOTS);
    sum += stress_release(set->slot[s]);   /* often a block a thread of an earlier round made */
    set->slot[s] = stress_block(stress_size(r << 32), r);
  }
  set->rng = rng;
  set->sum += sum;
  set->ops += LARSON_OPS;
  return NULL;
}

static int run_larson(int threads, int rounds) {
  larson_set_t* sets = calloc((size_t)threads, sizeof *sets);
  if (!sets) stress_die("no memory for the working sets");
  for (int t = 0; t < threads; t++) {
    sets[t].rng = 0x1a5500ull + (uint64_t)t;
    for (int s = 0; s < LARSON_SLOTS; s++) {
      uint64_t r = stress_rng(&sets[t].rng);
      sets[t].slot[s] = stress_block(stress_size(r), r);
    }
  }
  for (int round = 0; round < rounds; round++) {
    pthread_t tid[STRESS_MAX_THREADS];
    for (int t = 0; t < threads; t++)   /* a new thread takes over the set of thread t + round */
      if (pthread_create(&tid[t], NULL, larson_thread, &sets[(t + round) % threads])) stress_die("pthread_create");
    for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
  }
  uint64_t sum = 0, ops = 0;
  for (int t = 0; t < threads; t++) {
    for (int s = 0; s < LARSON_SLOTS; s++) sets[t].sum += stress_release(sets[t].slot[s]);
    sum += sets[t].sum;
    ops += sets[t].ops;
  }
  free(sets);
  printf("larson threads=%d rounds=%d replacements=%llu checksum=%016llx\n", threads, rounds,
         (unsigned long long)ops, (unsigned long long)sum);
  return 0;
}

/* ---- xmalloc: producers and consumers ------------------------------------------------------------ */
#define XM_QUEUE 1024

typedef struct {
  void* item[XM_QUEUE];
  unsigned head, tail, count, producers_left;
  pthread_mutex_t lock;
  pthread_cond_t not_empty, not_full;
} xm_queue_t;

typedef struct {
  xm_queue_t* q;
  uint64_t seed, blocks, sum;
} xm_worker_t;

static void* xm_producer(void* arg) {
  xm_worker_t* w = arg;
  xm_queue_t* q = w->q;
  uint64_t seed = w->seed;
  for (uint64_t i = 0; i < w->blocks; i++) {
    uint64_t r = stress_rng(&seed);
    void* b = stress_block(stress_size(r), r);
    pthread_mutex_lock(&q->lock);
    while (q->count == XM_QUEUE) pthread_cond_wait(&q->not_full, &q->lock);
    q->item[q->tail] = b;
    q->tail = (q->tail + 1) % XM_QUEUE;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
  }
  pthread_mutex_lock(&q->lock);
  q->producers_left--;
  pthread_cond_broadcast(&q->not_empty);
  pthread_mutex_unlock(&q->lock);
  return NULL;
}

static void* xm_consumer(void* arg) {
  xm_worker_t* w = arg;
  xm_queue_t* q = w->q;
  uint64_t sum = 0, blocks = 0;       /* locals: no cache line shared with another worker's counters */
  for (;;) {
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && q->producers_left > 0) pthread_cond_wait(&q->not_empty, &q->lock);
    if (q->count == 0) {
      pthread_mutex_unlock(&q->lock);
      w->sum = sum;
      w->blocks = blocks;
      return NULL;
    }
    void* b = q->item[q->head];
    q->head = (q->head + 1) % XM_QUEUE;
    q->count--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    sum += stress_release(b);     /* freed by a thread that did not allocate it */
    blocks++;
  }
}

static int run_xmalloc(int threads, long blocks) {
  if (threads < 2) stress_die("xmalloc needs at least 2 threads (producers and consumers)");
  int producers = threads / 2, consumers = threads - producers;
  xm_queue_t q = {.producers_left = (unsigned)producers};
  pthread_mutex_init(&q.lock, NULL);
  pthread_cond_init(&q.not_empty, NULL);
  pthread_cond_init(&q.not_full, NULL);
  xm_worker_t w[STRESS_MAX_THREADS] = {{0}};
  pthread_t tid[STRESS_MAX_THREADS];
  for (int t = 0; t < threads; t++) {
    w[t].q = &q;
    w[t].seed = 0x3a110c00ull + (uint64_t)t;
    w[t].blocks = t < producers ? (uint64_t)(blocks / producers + (t < blocks % producers)) : 0;
  }
  for (int t = 0; t < threads; t++)
    if (pthread_create(&tid[t], NULL, t < producers ? xm_producer : xm_consumer, &w[t])) stress_die("pthread_create");
  for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
  uint64_t sum = 0, freed = 0;
  for (int t = producers; t < threads; t++) {
    sum += w[t].sum;
    freed += w[t].blocks;
  }
  printf("xmalloc producers=%d consumers=%d blocks=%llu checksum=%016llx\n", producers, consumers,
         (unsigned long long)freed, (unsigned long long)sum);
  return 0;
}

/* ---- cache-scratch: false sharing of small blocks handed between threads -------------------------- */
#define SCRATCH_SIZE 8
#define SCRATCH_WRITES 200

typedef struct {
  char* handed;          /* allocated by the main thread: its neighbours may be another thread's */
  long iterations;
} scratch_t;

static void* scratch_thread(void* arg) {
  scratch_t* s = arg;
  free(s->handed);       /* the next small block may be placed on the main thread's cache line */
  for (long i = 0; i < s->iterations; i++) {
    volatile char* p = stress_alloc(SCRATCH_SIZE);
    for (int j = 0; j < SCRATCH_WRITES; j++) p[j % SCRATCH_SIZE] = (char)(p[j % SCRATCH_SIZE] + 1);
    free((void*)p);
  }
  return NULL;
}

static int run_scratch(int threads, long iterations) {
  scratch_t s[STRESS_MAX_THREADS];
  pthread_t tid[STRESS_MAX_THREADS];
  for (int t = 0; t < threads; t++) {   /* consecutive small blocks: likely one cache line */
    s[t].handed = stress_alloc(SCRATCH_SIZE);
    memset(s[t].handed, 0, SCRATCH_SIZE);
    s[t].iterations = iterations;
  }
  for (int t = 0; t < threads; t++)
    if (pthread_create(&tid[t], NULL, scratch_thread, &s[t])) stress_die("pthread_create");
  for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
  long blocks = 0;
  for (int t = 0; t < threads; t++) blocks += s[t].iterations;
  printf("scratch threads=%d blocks=%ld writes_per_block=%d\n", threads, blocks, SCRATCH_WRITES);
  return 0;
}

/* ---- mstress: mixed sizes, random lifetimes, a long-lived part ----------------------------------- */
#define MS_SLOTS 4096
#define MS_LONG_LIVED 512         /* slots 0..511 keep their first block for the whole run */
#define MS_OPS 25000              /* replacements per thread per round */

typedef struct {
  int rounds;
  uint64_t rng, sum, ops, bytes;
} mstress_t;

static size_t mstress_size(uint64_t r) {
  uint32_t pick = stress_below(r, 1000);
  if (pick < 900) return 8 + stress_below(r << 16, 248);           /* 90%: small, 8..255 B */
  if (pick < 990) return 256 + stress_below(r << 16, 8192 - 256);  /* 9%: medium, to 8 KiB */
  return 8192 + stress_below(r << 16, 256 * 1024 - 8192);          /* 1%: large, to 256 KiB */
}

static void* mstress_thread(void* arg) {
  mstress_t* m = arg;
  void** slot = stress_alloc(MS_SLOTS * sizeof *slot);
  for (int s = 0; s < MS_SLOTS; s++) {
    uint64_t r = stress_rng(&m->rng);
    slot[s] = stress_block(mstress_size(r), r);
  }
  uint64_t rng = m->rng, sum = 0, bytes = 0;   /* locals: no cache line shared between the threads */
  for (int round = 0; round < m->rounds; round++)
    for (int i = 0; i < MS_OPS; i++) {
      uint64_t r = stress_rng(&rng);
      uint32_t s = MS_LONG_LIVED + stress_below(r, MS_SLOTS - MS_LONG_LIVED);
      sum += stress_release(slot[s]);
      size_t size = mstress_size(stress_rng(&rng));
      slot[s] = stress_block(size, r);
      bytes += size;
    }
  for (int s = 0; s < MS_SLOTS; s++) sum += stress_release(slot[s]);
  free(slot);
  m->rng = rng;
  m->sum += sum;
  m->bytes += bytes;
  m->ops += (uint64_t)m->rounds * MS_OPS;
  return NULL;
}

static int run_mstress(int threads, int rounds) {
  mstress_t m[STRESS_MAX_THREADS];
  pthread_t tid[STRESS_MAX_THREADS];
  for (int t = 0; t < threads; t++) m[t] = (mstress_t){.rounds = rounds, .rng = 0x357e55ull + (uint64_t)t};
  for (int t = 0; t < threads; t++)
    if (pthread_create(&tid[t], NULL, mstress_thread, &m[t])) stress_die("pthread_create");
  uint64_t sum = 0, ops = 0, bytes = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(tid[t], NULL);
    sum += m[t].sum;
    ops += m[t].ops;
    bytes += m[t].bytes;
  }
  printf("mstress threads=%d rounds=%d replacements=%llu bytes=%llu checksum=%016llx\n", threads, rounds,
         (unsigned long long)ops, (unsigned long long)bytes, (unsigned long long)sum);
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 4 && argc != 6) {
    fprintf(stderr, "usage: %s larson|xmalloc|scratch|mstress THREADS COUNT [MIN_SIZE MAX_SIZE]\n", argv[0]);
    return 2;
  }
  int xm = !strcmp(argv[1], "xmalloc");
  stress_min = xm ? 8 : 16;       /* the defaults: larson's 16 B to 1 KiB, xmalloc's 8 to 519 B */
  stress_max = xm ? 519 : 1015;
  if (argc == 6) {
    long lo = atol(argv[4]), hi = atol(argv[5]);
    if (lo < 1 || hi < lo || hi > (long)(STRESS_MAX_BLOCK / 2)) stress_die("MIN_SIZE..MAX_SIZE must be 1..512 KiB, MIN <= MAX");
    stress_min = (uint32_t)lo;
    stress_max = (uint32_t)hi;
  }
  int threads = stress_threads(argv[2]);
  long count = atol(argv[3]);
  if (count < 1) stress_die("COUNT must be at least 1");
  if (!strcmp(argv[1], "larson")) return run_larson(threads, (int)count);
  if (!strcmp(argv[1], "xmalloc")) return run_xmalloc(threads, count);
  if (!strcmp(argv[1], "scratch")) return run_scratch(threads, count);
  if (!strcmp(argv[1], "mstress")) return run_mstress(threads, (int)count);
  fprintf(stderr, "stress: unknown test %s (larson, xmalloc, scratch, mstress)\n", argv[1]);
  return 2;
}

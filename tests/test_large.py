"""The Large pool as a drop-in malloc keeps it, under every variant's LD_PRELOAD library.

Many Large blocks share mappings (spans of Large segments), freed spans are
reused, idle memory goes back to the system, system-call failures are never
silent, errno is untouched by a successful call, os_reserved_bytes is what
is really mapped, and realloc grows and shrinks in place.  Behaviour only:
no timing (benchmarks/large_vs_glibc.py measures speed against glibc).
"""
from __future__ import annotations

import os
import resource
import subprocess

import pytest

from test_preload import compile_c, preload, run, stats_line  # noqa: F401 (preload: the fixture)

LARGE_PROG = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int mappings(void) {
  FILE* f = fopen("/proc/self/maps", "r");
  int n = 0, c;
  while ((c = fgetc(f)) != EOF) n += c == '\n';
  fclose(f);
  return n;
}
static long rss_mib(void) {
  FILE* f = fopen("/proc/self/statm", "r");
  long size, rss;
  if (fscanf(f, "%ld %ld", &size, &rss) != 2) rss = -1;
  fclose(f);
  return rss * 4096 / (1 << 20);
}
/* bytes of anonymous mappings (what hak maps is anonymous) */
static long long anon_bytes(void) {
  FILE* f = fopen("/proc/self/maps", "r");
  char line[512];
  long long total = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long long lo, hi, off;
    char perms[8], dev[16];
    unsigned long inode;
    int path = 0;
    if (sscanf(line, "%llx-%llx %7s %llx %15s %lu %n", &lo, &hi, perms, &off, dev, &inode, &path) < 6) continue;
    if (inode == 0 && (line[path] == '\n' || line[path] == 0)) total += (long long)(hi - lo);
  }
  fclose(f);
  return total;
}
/* hak's own os_reserved_bytes, from the preloaded library's hak_stats_json */
static long long reserved(void) {
  size_t (*stats)(char*, size_t) = (size_t (*)(char*, size_t))dlsym(RTLD_DEFAULT, "hak_stats_json");
  static char buf[8192];
  if (stats == NULL || stats(buf, sizeof buf) >= sizeof buf) return -1;
  const char* at = strstr(buf, "\"os_reserved_bytes\": ");
  return at ? atoll(at + strlen("\"os_reserved_bytes\": ")) : -1;
}
int main(int argc, char** argv) {
  const char* what = argv[1];
  if (!strcmp(what, "many")) {            /* 70,000 live 33,000-byte blocks */
    int n = 70000, before = mappings();
    void** v = malloc(n * sizeof *v);
    errno = 0;
    for (int i = 0; i < n; i++) {
      v[i] = malloc(33000);
      if (v[i] == NULL) { printf("malloc failed at %d\n", i); return 1; }
      ((char*)v[i])[i % 33000] = 1;
    }
    int live = mappings();
    printf("errno %d\nmappings %d\n", errno, live - before);
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
    printf("errno %d\n", errno);
  } else if (!strcmp(what, "memalign")) { /* posix_memalign(64, 4096) x 20,000 under a limit */
    errno = 0;
    for (int i = 0; i < 20000; i++) {
      void* p;
      if (posix_memalign(&p, 64, 4096) != 0 || ((uintptr_t)p & 63)) { printf("failed at %d\n", i); return 1; }
      if (malloc(33000) == NULL) { printf("malloc failed at %d\n", i); return 1; }
    }
    printf("errno %d\n", errno);
  } else if (!strcmp(what, "grow")) {     /* 4 KiB steps to 64 MiB: O(log n) moves */
    char* buf = NULL;
    int moves = 0;
    for (size_t size = 4096; size <= (64u << 20); size += 4096) {
      char* q = realloc(buf, size);
      if (q == NULL) { puts("realloc failed"); return 1; }
      if (buf != NULL && q != buf) moves++;
      if (buf != NULL && (q[size - 4097] != (char)(size / 4096 - 1))) { puts("contents lost"); return 1; }
      q[size - 1] = (char)(size / 4096);
      buf = q;
    }
    printf("moves %d\n", moves);
    free(buf);
  } else if (!strcmp(what, "shrink")) {   /* 20 x 50 MiB, reallocated to 40,000 B */
    void* v[20];
    for (int i = 0; i < 20; i++) { v[i] = malloc(50 << 20); memset(v[i], i + 1, 50 << 20); }
    long full = rss_mib();
    for (int i = 0; i < 20; i++) {
      v[i] = realloc(v[i], 40000);
      if (((char*)v[i])[39999] != i + 1) { puts("contents lost"); return 1; }
    }
    printf("rss %ld %ld\n", full, rss_mib());
  } else if (!strcmp(what, "inplace")) {  /* a span grows into free pages after it, shrinks in place */
    char* p = malloc(40000);
    memset(p, 7, 40000);
    char* q = realloc(p, 80000);
    char* r = realloc(q, 36000);
    printf("%d %d %d\n", q == p, r == q, r[35999] == 7);
    free(r);
  } else if (!strcmp(what, "reuse")) {    /* a freed span is reused; calloc still zeroes it */
    char* p = malloc(100000);
    memset(p, 0xAB, 100000);
    free(p);
    char* q = calloc(1, 100000);
    size_t nonzero = 0;
    for (size_t i = 0; i < 100000; i++) nonzero += q[i] != 0;
    printf("%d %zu\n", q == p, nonzero);
    free(q);
  } else if (!strcmp(what, "release")) {  /* 1 GiB of spans freed: memory and mappings go back */
    int n = 10000;
    void** v = malloc(n * sizeof *v);
    for (int i = 0; i < n; i++) { v[i] = malloc(100000); memset(v[i], 1, 100000); }
    long full = rss_mib();
    for (int i = 0; i < n; i++) free(v[i]);
    printf("rss %ld %ld\n", full, rss_mib());
  } else if (!strcmp(what, "accounting")) {  /* os_reserved_bytes follows what is mapped */
    reserved(), anon_bytes();  /* their own first allocations (stdio) out of the way */
    long long r0 = reserved(), a0 = anon_bytes();
    void* v[3000];
    char* big = NULL;
    for (int round = 0; round < 3; round++) {
      for (int i = 0; i < 3000; i++) v[i] = malloc(i % 100 == 0 ? (size_t)(5 + i % 7) << 20 : 33000 + (size_t)i * 97);
      for (size_t size = 4096; size <= (24u << 20); size += 65536) big = realloc(big, size);
      printf("%lld\n", (reserved() - r0) - (anon_bytes() - a0));
      for (int i = 0; i < 3000; i += 2) free(v[i]);
      big = realloc(big, 40000);
      printf("%lld\n", (reserved() - r0) - (anon_bytes() - a0));
      for (int i = 1; i < 3000; i += 2) free(v[i]);
      printf("%lld\n", (reserved() - r0) - (anon_bytes() - a0));
    }
  } else if (!strcmp(what, "impossible")) {
    errno = 0;
    volatile size_t big = (size_t)1 << 44;
    void* p = malloc(big);
    printf("%d %d\n", p == NULL, errno == ENOMEM);
  } else {
    return 2;
  }
  return 0;
}
"""


@pytest.fixture(scope="module")
def large_exe(tmp_path_factory):
    return compile_c(tmp_path_factory.mktemp("large"), "large", LARGE_PROG)


def lines_of(got):
    assert got.returncode == 0, f"exit {got.returncode}: {got.stdout} {got.stderr[-1500:]}"
    return got.stdout.splitlines()


def test_70000_live_blocks_share_a_few_mappings(preload, large_exe):
    got = run([str(large_exe), "many"], preload, env={"HAK_STATS": "1"})
    out = lines_of(got)
    assert out[0] == "errno 0" and out[2] == "errno 0", out
    assert int(out[1].split()[1]) < 300, out          # a few hundred mappings at most (2.3 GiB)
    # freed: the segments are given back, and the count of reserved bytes says so
    assert stats_line(got.stderr)["os_reserved_bytes"] < 128 << 20


def test_aligned_and_large_blocks_under_an_address_space_limit(preload, large_exe):
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (4_000_000 * 1024, 4_000_000 * 1024))

    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "HAK_STATS")}
    env["LD_PRELOAD"] = str(preload)
    got = subprocess.run([str(large_exe), "memalign"], capture_output=True, text=True, env=env,
                         preexec_fn=limit, timeout=120)
    assert lines_of(got) == ["errno 0"]


def test_realloc_growth_in_small_steps_moves_rarely(preload, large_exe):
    out = lines_of(run([str(large_exe), "grow"], preload))
    assert int(out[0].split()[1]) < 64, out   # a copy (or mremap move) per step was 16,384


def test_shrinking_huge_blocks_releases_their_memory(preload, large_exe):
    out = lines_of(run([str(large_exe), "shrink"], preload))
    full, after = map(int, out[0].split()[1:])
    assert full >= 1000 and after < 100, out


def test_realloc_in_place_and_reuse(preload, large_exe):
    assert lines_of(run([str(large_exe), "inplace"], preload)) == ["1 1 1"]
    assert lines_of(run([str(large_exe), "reuse"], preload)) == ["1 0"]


def test_freed_spans_go_back_to_the_system(preload, large_exe):
    out = lines_of(run([str(large_exe), "release"], preload))
    full, after = map(int, out[0].split()[1:])
    assert full >= 900 and after < 100, out


def test_os_reserved_bytes_is_what_is_mapped(preload, large_exe):
    """Every mapping hak makes or drops is accounted for: the change in os_reserved_bytes
    equals the change in anonymous mappings (to within the tables it maps besides)."""
    out = lines_of(run([str(large_exe), "accounting"], preload))
    assert len(out) == 9 and all(abs(int(x)) < 1 << 20 for x in out), out


def test_impossible_request_fails_with_enomem(preload, large_exe):
    assert lines_of(run([str(large_exe), "impossible"], preload)) == ["1 1"]

"""Real programs on each variant through LD_PRELOAD, output compared with glibc's.

PYTHONMALLOC=malloc makes CPython send every allocation to malloc (not to
its own small-object arena), so the interpreter is a thorough client.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reportgen.build import build_variant
from reportgen.measuring.native import HakLib
from reportgen.variants import VARIANTS

TIMEOUT = 120


@pytest.fixture(scope="module", params=list(VARIANTS))
def preload(request, project) -> Path:
    return build_variant(project, VARIANTS[request.param], "preload")


def run(cmd, preload: Path | None, *, stdin: str | None = None, env: dict | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "HAK_STATS")}
    full_env.update(env or {})
    if preload is not None:
        full_env["LD_PRELOAD"] = str(preload)
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=TIMEOUT)


def same_as_glibc(cmd, preload, **kwargs) -> subprocess.CompletedProcess:
    ref = run(cmd, None, **kwargs)
    assert ref.returncode == 0, f"reference run on glibc failed: {ref.stderr}"
    got = run(cmd, preload, **kwargs)
    assert got.returncode == 0, f"{cmd[0]} under {preload.name} exited {got.returncode}: {got.stderr[-2000:]}"
    assert got.stdout == ref.stdout
    return got


def compile_c(tmp_path: Path, name: str, source: str) -> Path:
    if not shutil.which("gcc"):
        pytest.skip("gcc not installed")
    src = tmp_path / f"{name}.c"
    src.write_text(textwrap.dedent(source))
    exe = tmp_path / name
    subprocess.run(["gcc", "-O1", "-pthread", str(src), "-o", str(exe)], check=True,
                   capture_output=True, timeout=TIMEOUT)
    return exe


PY_WORKLOAD = r"""
import json, zlib, random, hashlib
rng = random.Random(42)
d = {}
for i in range(30000):
    d[f"key{i}"] = [rng.random() for _ in range(rng.randint(0, 12))] + ["x" * rng.randint(0, 3000)]
blob = json.dumps(d, sort_keys=True).encode()
comp = zlib.compress(blob, 6)
assert zlib.decompress(comp) == blob
words = sorted((f"{rng.randint(0, 10**9):x}" * rng.randint(1, 50) for _ in range(20000)), key=lambda w: (len(w), w))
big = [bytearray(rng.randint(1, 70000)) for _ in range(300)]
print(len(blob), hashlib.sha256(comp).hexdigest(), hashlib.sha256("".join(words).encode()).hexdigest(),
      sum(map(len, big)))
"""


def test_python_workload(preload):
    same_as_glibc([sys.executable, "-c", PY_WORKLOAD], preload, env={"PYTHONMALLOC": "malloc"})


PY_THREADS = r"""
import threading, hashlib, queue
q = queue.Queue()
results = [None] * 4
def producer(k):
    for i in range(3000):
        q.put(bytes([k]) * (64 + (i * 97) % 20000))
    q.put(None)
def consumer(slot):
    h = hashlib.sha256(); done = 0
    while done < 2:
        item = q.get()
        if item is None:
            done += 1; continue
        h.update(len(item).to_bytes(4, "little"))
        lst = [bytearray(item) for _ in range(3)]; del lst
    results[slot] = h.digest()
def builder(slot):
    acc = {}
    for i in range(20000):
        acc[i] = str(i) * (i % 50)
        if i % 3 == 0:
            acc.pop(i // 2, None)
    results[slot] = hashlib.sha256(repr(sorted(acc.items())).encode()).digest()
ts = [threading.Thread(target=producer, args=(1,)), threading.Thread(target=producer, args=(2,)),
      threading.Thread(target=consumer, args=(0,)), threading.Thread(target=builder, args=(1,))]
for t in ts: t.start()
for t in ts: t.join()
print(results[1].hex())   # the consumer's digest depends on the interleaving; the builder's does not
print(results[0] is not None)
"""


def test_python_threads(preload):
    same_as_glibc([sys.executable, "-c", PY_THREADS], preload, env={"PYTHONMALLOC": "malloc"})


def test_gcc_compiles_under_preload(preload, tmp_path):
    if not shutil.which("gcc"):
        pytest.skip("gcc not installed")
    src = tmp_path / "prog.c"
    src.write_text(textwrap.dedent(r"""
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        static int cmp(const void* a, const void* b) { return *(const int*)a - *(const int*)b; }
        int main(void) {
          int n = 50000; int* v = malloc(n * sizeof *v); unsigned s = 1;
          for (int i = 0; i < n; i++) { s = s * 1103515245u + 12345u; v[i] = (int)(s >> 8) % 100000; }
          qsort(v, n, sizeof *v, cmp);
          long sum = 0; for (int i = 0; i < n; i += 1000) sum += v[i];
          char* buf = NULL; size_t len = 0;
          for (int i = 0; i < 2000; i++) { buf = realloc(buf, len + 16); len += (size_t)sprintf(buf + len, "%d,", v[i] % 10); }
          printf("%ld %d %d %zu %c\n", sum, v[0], v[n - 1], strlen(buf), buf[100]);
          free(buf); free(v); return 0;
        }
    """))
    outputs = []
    for pre, exe in ((None, tmp_path / "ref"), (preload, tmp_path / "hak")):
        r = run(["gcc", "-O2", "-Wall", str(src), "-o", str(exe)], pre)
        assert r.returncode == 0, f"gcc under {pre} failed: {r.stderr}"
        outputs.append(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout)
    assert outputs[0] == outputs[1] and outputs[0].strip()


SQL = """
create table t(a integer primary key, b text, c real);
with recursive n(x) as (select 1 union all select x + 1 from n where x < 10000)
insert into t select x, printf('group-%d', x % 37), x * 0.5 from n;
create index tb on t(b);
select b, count(*), sum(a), round(avg(c), 3), length(group_concat(a)) from t group by b order by b;
select count(distinct b), max(length(b)) from t;
"""


def test_sqlite3_shell(preload):
    sqlite3 = shutil.which("sqlite3")
    if not sqlite3:
        pytest.skip("sqlite3 shell not installed (apt-get install sqlite3; .ci/run installs it)")
    got = same_as_glibc([sqlite3, ":memory:"], preload, stdin=SQL)
    assert got.stdout.count("\n") == 38


PTHREAD_PROG = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define N 20000
#define SLOTS 64
static void* volatile ring[SLOTS];
static size_t sizes[SLOTS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int head, tail;
static unsigned long checksum;
static void* producer(void* arg) {
  unsigned s = (unsigned)(size_t)arg;
  for (int i = 0; i < N; i++) {
    s = s * 1103515245u + 12345u;
    size_t size = 1 + (s >> 8) % (i % 10 == 0 ? 40000 : 9000);
    unsigned char* p = malloc(size);
    memset(p, (unsigned char)i, size);
    pthread_mutex_lock(&mu);
    while (head - tail == SLOTS) pthread_cond_wait(&cv, &mu);
    ring[head % SLOTS] = p; sizes[head % SLOTS] = size; head++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
  }
  return NULL;
}
static void* consumer(void* arg) {
  (void)arg;
  for (int i = 0; i < N; i++) {
    pthread_mutex_lock(&mu);
    while (head == tail) pthread_cond_wait(&cv, &mu);
    unsigned char* p = ring[tail % SLOTS]; size_t size = sizes[tail % SLOTS]; tail++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (size_t k = 0; k < size; k++) if (p[k] != (unsigned char)i) { printf("corrupt block %d\n", i); exit(1); }
    checksum += size;
    p = realloc(p, size / 2 + 1);
    free(p);
  }
  return NULL;
}
int main(void) {
  pthread_t a, b;
  pthread_create(&a, NULL, producer, (void*)7);
  pthread_create(&b, NULL, consumer, NULL);
  pthread_join(a, NULL); pthread_join(b, NULL);
  printf("%lu\n", checksum);
  return 0;
}
"""


def test_pthread_program_passes_blocks_between_threads(preload, tmp_path):
    exe = compile_c(tmp_path, "pingpong", PTHREAD_PROG)
    got = same_as_glibc([str(exe)], preload)
    assert int(got.stdout) > 0


FOREIGN_PROG = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
/* Launder pointers through a volatile function pointer so the compiler cannot see what is freed. */
static void* identity(void* p) { return p; }
static void* (*volatile launder)(void*) = identity;
static char static_buf[4096] __attribute__((aligned(64)));
int main(void) {
  char stack_buf[256];
  void* page = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return 3;
  free(launder(stack_buf));
  free(launder(stack_buf + 16));
  free(launder(static_buf));
  free(launder(static_buf + 1024));
  free(launder(page));
  free(launder((char*)page + 4096));
  free(NULL);
  printf("%zu %zu %zu\n", malloc_usable_size(launder(stack_buf)), malloc_usable_size(launder(static_buf)),
         malloc_usable_size(launder(page)));
  void* p = malloc(100);      /* the allocator still works afterwards */
  ((char*)p)[99] = 1;
  free(p);
  puts("survived");
  return 0;
}
"""


def test_free_of_foreign_pointers_is_counted_with_the_opt_out(preload, tmp_path):
    src = FOREIGN_PROG.replace("#include <sys/mman.h>", "#include <sys/mman.h>\n#include <malloc.h>")
    exe = compile_c(tmp_path, "foreign", src)
    got = run([str(exe)], preload, env={"HAK_STATS": "1", "HAK_INVALID_FREE": "count"})
    assert got.returncode == 0, f"exit {got.returncode}: {got.stderr}"
    assert got.stdout.splitlines() == ["0 0 0", "survived"]
    stats = stats_line(got.stderr)
    assert stats["foreign_frees"] == stats["invalid_frees"] == 6, stats
    assert stats["double_frees"] == 0, stats


def test_free_of_a_foreign_pointer_aborts_by_default(preload, tmp_path):
    """glibc's behaviour: one line naming the problem, then abort()."""
    src = FOREIGN_PROG.replace("#include <sys/mman.h>", "#include <sys/mman.h>\n#include <malloc.h>")
    exe = compile_c(tmp_path, "foreign", src)
    got = run([str(exe)], preload)
    assert got.returncode == -6, f"exit {got.returncode}: {got.stdout} {got.stderr}"
    assert got.stdout == ""
    lines = got.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hak: free(): invalid pointer (0x"), got.stderr


def stats_line(stderr: str) -> dict:
    lines = [line for line in stderr.splitlines() if line.startswith("{")]
    objs = []
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "tiny_allocs" in obj:
            objs.append(obj)
    assert len(objs) == 1, f"expected one JSON counters line on stderr, got: {stderr[-2000:]!r}"
    return objs[0]


STATS_WORKLOAD = r"""
import sys
n = int(sys.argv[1])
small = [bytearray(1000) for _ in range(n)]
big = [bytearray(4000) for _ in range(n)]
print(len(small) + len(big))
"""


def test_hak_stats_reports_pools_of_a_python_workload(project, preload):
    """The issue's done-when: 1 KiB objects are counted in Tiny, 4 KiB ones in Mid."""
    n = 3000
    base = run([sys.executable, "-c", STATS_WORKLOAD, "0"], preload, env={"HAK_STATS": "1"})
    work = run([sys.executable, "-c", STATS_WORKLOAD, str(n)], preload, env={"HAK_STATS": "1"})
    for r in (base, work):
        assert r.returncode == 0, r.stderr
    quiet = run([sys.executable, "-c", STATS_WORKLOAD, "0"], preload)
    assert stats_line_count(quiet.stderr) == 0, "counters printed without HAK_STATS=1"
    b, w = stats_line(base.stderr), stats_line(work.stderr)
    assert w["tiny_allocs"] - b["tiny_allocs"] >= n
    assert w["mid_allocs"] - b["mid_allocs"] >= n
    # bytearray(1000) asks for ~1001 bytes: a Tiny class of at least 1001 bytes;
    # bytearray(4000) asks for ~4001: a Mid class of at least 4001 bytes.
    name = Path(preload).parent.name.rsplit("-preload-", 1)[0]
    config = HakLib(build_variant(project, VARIANTS[name], "lib")).config()
    if "tiny_class_allocs" in w:
        delta = [x - y for x, y in zip(w["tiny_class_allocs"], b["tiny_class_allocs"])]
        assert sum(d for d, size in zip(delta, config["tiny_classes"]) if size > 1000) >= n
    if "mid_class_allocs" in w:
        delta = [x - y for x, y in zip(w["mid_class_allocs"], b["mid_class_allocs"])]
        assert sum(d for d, size in zip(delta, config["mid_classes"]) if size > 4000) >= n


def stats_line_count(stderr: str) -> int:
    return sum(1 for line in stderr.splitlines() if line.startswith("{") and "tiny_allocs" in line)


# ---- regressions found in review: each a real drop-in malloc failure --------------------

HARDENING_PROG = r"""
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static void* launder(void* p) { __asm__ volatile("" : "+r"(p)); return p; }
static void* thread_body(void* arg) {
  (void)arg;
  void* p = malloc(100);
  free(p);
  (void)strerror(99999);  /* glibc frees a thread-local buffer after the key destructors ran */
  return NULL;
}
int main(void) {
  /* 1. threads whose teardown frees after their heap was given up: no heap may be lost */
  for (int i = 0; i < 200; i++) { pthread_t t; pthread_create(&t, NULL, thread_body, NULL); pthread_join(t, NULL); }
  /* 2. zero-size aligned blocks: inside their mapping, usable, and reallocatable */
  size_t aligns[] = {4096, 8192, (size_t)1 << 22, (size_t)1 << 23};
  for (int i = 0; i < 4; i++) {
    void* a = NULL;
    if (posix_memalign(&a, aligns[i], 0) != 0 || ((uintptr_t)a & (aligns[i] - 1))) { puts("memalign failed"); return 1; }
    void* r = realloc(a, 100);
    if (r == NULL) { puts("realloc of a zero-size aligned block failed"); return 1; }
    memset(r, 1, 100);
    free(r);
  }
  /* 3. a pointer to the first bytes of a Mid segment (nothing in front of it is mapped for hak) */
  char* mid = malloc(5000);
  char* seg = (char*)((uintptr_t)mid & ~(uintptr_t)((1u << 22) - 1));
  free(launder(seg + 8));
  /* 4. a pointer into a live block whose bytes look like a header: the block must stay live */
  char* a = malloc(4096);
  memset(a, 0, 4096);
  free(launder(a + 80));
  char* b = malloc(32768);
  if (b >= a && b < a + 4096) { puts("a block was handed out twice"); return 1; }
  /* 5. a block boundary the bump pointer has not reached: never handed out, never handed out twice */
  char* t = malloc(16);
  free(launder(t + 16 * 1000));
  for (int i = 0; i < 3000; i++) {
    char* q = malloc(16);
    if (q == t) { puts("a live block was handed out twice"); return 1; }
  }
  /* 6. impossible requests fail like glibc's instead of killing the process later */
  errno = 0;
  if (malloc((size_t)1 << 44) != NULL || errno != ENOMEM) { puts("an impossible request succeeded"); return 1; }
  free(mid); free(a); free(b); free(t);
  puts("survived");
  return 0;
}
"""


def test_review_regressions(preload, tmp_path):
    exe = compile_c(tmp_path, "hardening", HARDENING_PROG)
    got = run([str(exe)], preload, env={"HAK_STATS": "1", "HAK_INVALID_FREE": "count"})
    assert got.returncode == 0, f"exit {got.returncode}: {got.stdout} {got.stderr[-1500:]}"
    assert got.stdout.splitlines() == ["survived"]
    stats = stats_line(got.stderr)
    # 200 exited threads whose heaps were all given back for adoption: a handful of segments,
    # not one heap's worth per thread (a lost heap kept its segments reserved forever);
    # 32 MiB of it is the Large segment of the aligned blocks, kept mapped for reuse once empty
    assert stats["os_reserved_bytes"] < 96 << 20, stats
    # the three invalid frees (3., 4., 5.): hak's memory, but not a block it handed out
    assert stats["invalid_frees"] == 3 and stats["foreign_frees"] == stats["double_frees"] == 0, stats

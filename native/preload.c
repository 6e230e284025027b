/* preload.c -- the rest of the drop-in malloc family for LD_PRELOAD, and the
 * HAK_STATS=1 report (one JSON line of counters on stderr at exit).
 * malloc, free, calloc, realloc and malloc_usable_size are aliases of the
 * hak_* functions, defined in router.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hak_internal.h"

#define HAK_EXPORT __attribute__((visibility("default")))
#define HAK_PAGE_SIZE 4096u

HAK_EXPORT int posix_memalign(void** out, size_t alignment, size_t size) {
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  int saved = errno;
  void* p = hak_memalign(alignment, size);
  if (p == NULL) return ENOMEM;
  errno = saved;
  *out = p;
  return 0;
}

HAK_EXPORT void* aligned_alloc(size_t alignment, size_t size) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    errno = EINVAL;
    return NULL;
  }
  return hak_memalign(alignment, size);
}

/* memalign rounds a non-power-of-two alignment up, as glibc does. */
HAK_EXPORT void* memalign(size_t alignment, size_t size) {
  if (alignment > ((size_t)1 << 62)) {
    errno = EINVAL;
    return NULL;
  }
  size_t a = alignment < HAK_ALIGNMENT ? HAK_ALIGNMENT : alignment;
  if (a & (a - 1)) a = (size_t)1 << (64 - __builtin_clzl(a));
  return hak_memalign(a, size);
}

HAK_EXPORT void* valloc(size_t size) { return hak_memalign(HAK_PAGE_SIZE, size); }

HAK_EXPORT void* pvalloc(size_t size) {
  size_t rounded = (size + HAK_PAGE_SIZE - 1) & ~(size_t)(HAK_PAGE_SIZE - 1);
  if (rounded < size) {
    errno = ENOMEM;
    return NULL;
  }
  return hak_memalign(HAK_PAGE_SIZE, rounded ? rounded : HAK_PAGE_SIZE);
}

HAK_EXPORT void* reallocarray(void* p, size_t count, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(count, size, &bytes)) {
    errno = ENOMEM;
    return NULL;
  }
  return hak_realloc(p, bytes);
}

/* Runs after the program's atexit handlers, so late frees are counted too. */
__attribute__((destructor)) static void _hak_preload_report(void) {
  const char* want = getenv("HAK_STATS");
  if (want == NULL || strcmp(want, "1") != 0) return;
  static char line[8192];
  size_t n = hak_stats_json(line, sizeof line - 1);
  if (n >= sizeof line - 1) return;  /* cannot happen with the fixed counter set */
  line[n++] = '\n';
  for (size_t off = 0; off < n;) {
    ssize_t w = write(2, line + off, n - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
}

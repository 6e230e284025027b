/* heap.c -- one heap per thread: Tiny and Mid class state and counters.
 *
 * A thread's heap is found through one initial-exec TLS pointer.  When the
 * thread exits its heap is abandoned, not freed: its segments may still hold
 * live blocks, and the next new thread adopts it (free lists, remote lists,
 * counters and all).  Heaps are never unmapped, so counters can be summed
 * over every heap at any time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hak_internal.h"

__thread _hak_heap_t* _hak_tls_heap __attribute__((tls_model("initial-exec")));
/* Set once this thread's heap was given up at thread exit: glibc still frees
 * (and may allocate) after the key destructors ran (__libc_thread_freeres),
 * when no destructor round is left to give a new heap up again. */
static __thread bool _hak_tls_exited __attribute__((tls_model("initial-exec")));

/* The heap of exited threads' late calls, shared and used under its mutex. */
static pthread_mutex_t _hak_late_lock = PTHREAD_MUTEX_INITIALIZER;
static _hak_heap_t* _hak_late_heap;

static pthread_mutex_t _hak_heaps_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(_hak_heap_t*) _hak_heaps_all;  /* every heap; only ever prepended (under _hak_heaps_lock) */
static _hak_heap_t* _hak_heaps_abandoned;
static pthread_key_t _hak_heap_key;
static _Atomic(int) _hak_heap_key_state;   /* 0 none, 1 creating, 2 ready */

#if HAK_DEBUG
void _hak_assert_fail(const char* expr, const char* file, int line) {
  char msg[256];
  int n = snprintf(msg, sizeof msg, "hak: assertion failed: %s (%s:%d)\n", expr, file, line);
  if (n > 0) (void)!write(2, msg, (size_t)n);
  abort();
}
#endif

/* Thread exit: give the heap up for adoption.  Calls this thread still makes
 * afterwards (glibc frees thread-local buffers after the key destructors)
 * go to the shared late heap: see _hak_late_enter. */
static void _hak_heap_thread_exit(void* arg) {
  _hak_heap_t* heap = arg;
  if (heap == NULL) return;
  pthread_mutex_lock(&_hak_heaps_lock);
  _hak_stat_inc(heap, mutex_locks);
  heap->abandoned = true;
  heap->next_abandoned = _hak_heaps_abandoned;
  _hak_heaps_abandoned = heap;
  pthread_mutex_unlock(&_hak_heaps_lock);
  _hak_tls_heap = NULL;
  _hak_tls_exited = true;
}

/* pthread_key_create allocates nothing, so it is safe from inside malloc. */
static void _hak_heap_key_ensure(void) {
  if (_hak_likely(_hak_atomic_load_acquire(&_hak_heap_key_state) == 2)) return;
  int expected = 0;
  if (_hak_atomic_cas_strong_acq_rel(&_hak_heap_key_state, &expected, 1)) {
    if (pthread_key_create(&_hak_heap_key, _hak_heap_thread_exit) == 0)
      _hak_atomic_store_release(&_hak_heap_key_state, 2);
    else
      _hak_atomic_store_release(&_hak_heap_key_state, 0);
    return;
  }
  while (_hak_atomic_load_acquire(&_hak_heap_key_state) == 1) { /* another thread is creating it */ }
}

/* A fresh heap, linked into the list of every heap; call with _hak_heaps_lock held. */
static _hak_heap_t* _hak_heap_new_locked(void) {
  /* A layout may start the heap past its first page's start (heaps are never unmapped). */
  size_t bytes = (sizeof(_hak_heap_t) + _hak_layout_heap_offset + 4095) & ~(size_t)4095;
  char* mem = _hak_os_alloc_aligned(bytes, 4096);
  _hak_heap_t* heap = mem == NULL ? NULL : (_hak_heap_t*)(mem + _hak_layout_heap_offset);
  if (heap == NULL) {
    pthread_mutex_unlock(&_hak_heaps_lock);
    static const char msg[] = "hak: out of memory creating a thread heap\n";
    (void)!write(2, msg, sizeof msg - 1);
    abort();
  }
  heap->next_all = _hak_atomic_load_relaxed(&_hak_heaps_all);
  _hak_atomic_store_release(&_hak_heaps_all, heap);
  return heap;
}

/* NULL once this thread has exited (see _hak_tls_exited): the caller then
 * goes through _hak_late_enter/_hak_late_leave instead. */
_HAK_NOINLINE _hak_heap_t* _hak_heap_init_thread(void) {
  if (_hak_tls_exited) return NULL;
  _hak_options_init();
  _hak_heap_key_ensure();
  pthread_mutex_lock(&_hak_heaps_lock);
  _hak_heap_t* heap = _hak_heaps_abandoned;
  if (heap != NULL) {
    _hak_heaps_abandoned = heap->next_abandoned;
    heap->next_abandoned = NULL;
    heap->abandoned = false;
  } else {
    heap = _hak_heap_new_locked();
  }
  _hak_stat_inc(heap, mutex_locks);
  pthread_mutex_unlock(&_hak_heaps_lock);
  _hak_tls_heap = heap;
  if (_hak_atomic_load_acquire(&_hak_heap_key_state) == 2)
    pthread_setspecific(_hak_heap_key, heap);
  return heap;
}

_hak_heap_t* _hak_heap_list(void) { return _hak_atomic_load_acquire(&_hak_heaps_all); }

/* ---- late calls of exited threads --------------------------------------------- */
/* Rare (a free in glibc's thread teardown, say), so one shared heap under a
 * mutex serves them all; it owns what it allocates, like any heap. */
_hak_heap_t* _hak_late_enter(void) {
  _hak_options_init();
  pthread_mutex_lock(&_hak_late_lock);
  if (_hak_late_heap == NULL) {
    pthread_mutex_lock(&_hak_heaps_lock);
    _hak_late_heap = _hak_heap_new_locked();
    pthread_mutex_unlock(&_hak_heaps_lock);
  }
  _hak_stat_inc(_hak_late_heap, mutex_locks);
  return _hak_late_heap;
}

void _hak_late_leave(void) { pthread_mutex_unlock(&_hak_late_lock); }

/* ---- fork ------------------------------------------------------------------ */
/* Hold every allocator mutex across fork() so the child never inherits one
 * locked by a thread that does not exist there. */
void _hak_global_lock_all(void) {
  pthread_mutex_lock(&_hak_late_lock);
  pthread_mutex_lock(&_hak_heaps_lock);
  _hak_mid_registry_lock();
  _hak_large_lock();
  _hak_stats_lock_fork();
}
void _hak_global_unlock_all(void) {
  _hak_stats_unlock_fork();
  _hak_large_unlock();
  _hak_mid_registry_unlock();
  pthread_mutex_unlock(&_hak_heaps_lock);
  pthread_mutex_unlock(&_hak_late_lock);
}
/* In the child only the forking thread exists: the other threads' heaps are
 * given up for adoption, so their blocks and free lists are not lost. */
void _hak_global_reinit_child(void) {
  pthread_mutex_init(&_hak_late_lock, NULL);
  pthread_mutex_init(&_hak_heaps_lock, NULL);
  _hak_mid_registry_reinit();
  _hak_large_reinit();
  _hak_stats_reinit_fork();
  for (_hak_heap_t* h = _hak_atomic_load_relaxed(&_hak_heaps_all); h != NULL; h = h->next_all) {
    if (h == _hak_tls_heap || h == _hak_late_heap || h->abandoned) continue;
    h->abandoned = true;
    h->next_abandoned = _hak_heaps_abandoned;
    _hak_heaps_abandoned = h;
  }
}

__attribute__((constructor)) static void _hak_heap_process_init(void) {
  _hak_options_init();
  _hak_heap_key_ensure();
  pthread_atfork(_hak_global_lock_all, _hak_global_unlock_all, _hak_global_reinit_child);
}

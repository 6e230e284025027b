/* hak_atomic.h -- the one spelling of branch hints and atomics in native/.
 *
 * Every branch hint and every atomic operation of the allocator (and of the
 * bench drivers) goes through the prefixed macros below, over C11
 * <stdatomic.h>; no file uses __builtin_expect, __atomic_* builtins or a raw
 * atomic_*_explicit call of its own.  The memory order is part of the name,
 * so a reader sees it at the call site (as mimalloc's mi_atomic_* do).
 *
 * Shared objects are declared _Atomic(T).  Two kinds of object cannot be:
 * words inside blocks (the free key of a list node lives in user memory) and
 * the per-heap counters (plain uint64_t fields, summed as an array).  For
 * those, _hak_atomic_view(T, p) gives the same object as an _Atomic(T): the
 * static assertions below check that, for the types it is used with, an
 * _Atomic(T) is laid out as a T (lock-free, same size and alignment).
 *
 * Needs nothing but the C library: bench.c includes it for every allocator. */
#ifndef HAK_ATOMIC_H
#define HAK_ATOMIC_H

#include <stdatomic.h>
#include <stdint.h>

/* ---- branch hints -------------------------------------------------------- */
#define _hak_likely(x)   __builtin_expect(!!(x), 1)
#define _hak_unlikely(x) __builtin_expect(!!(x), 0)

/* ---- atomics on _Atomic(T) objects ---------------------------------------- */
#define _hak_atomic_load_relaxed(p)      atomic_load_explicit((p), memory_order_relaxed)
#define _hak_atomic_load_acquire(p)      atomic_load_explicit((p), memory_order_acquire)
#define _hak_atomic_store_relaxed(p, x)  atomic_store_explicit((p), (x), memory_order_relaxed)
#define _hak_atomic_store_release(p, x)  atomic_store_explicit((p), (x), memory_order_release)
#define _hak_atomic_exchange_acquire(p, x) atomic_exchange_explicit((p), (x), memory_order_acquire)
#define _hak_atomic_add_relaxed(p, x)    atomic_fetch_add_explicit((p), (x), memory_order_relaxed)
#define _hak_atomic_sub_relaxed(p, x)    atomic_fetch_sub_explicit((p), (x), memory_order_relaxed)
/* Loads before it are done before loads after it (one reader's passes apart). */
#define _hak_fence_acquire()             atomic_thread_fence(memory_order_acquire)
/* Compare-and-swap: true if *p held *expected and now holds desired; else
 * *expected is what *p held.  weak: may fail spuriously (use in a loop). */
#define _hak_atomic_cas_weak_relaxed(p, expected, desired) \
  atomic_compare_exchange_weak_explicit((p), (expected), (desired), memory_order_relaxed, memory_order_relaxed)
#define _hak_atomic_cas_weak_release(p, expected, desired) \
  atomic_compare_exchange_weak_explicit((p), (expected), (desired), memory_order_release, memory_order_relaxed)
#define _hak_atomic_cas_strong_acq_rel(p, expected, desired) \
  atomic_compare_exchange_strong_explicit((p), (expected), (desired), memory_order_acq_rel, memory_order_acquire)

/* ---- plain objects accessed atomically ------------------------------------- */
/* `p` (a T*) seen as an _Atomic(T)*, for the macros above. */
#define _hak_atomic_view(T, p) ((_Atomic(T)*)(p))
_Static_assert(sizeof(_Atomic(uint64_t)) == sizeof(uint64_t) && _Alignof(_Atomic(uint64_t)) == _Alignof(uint64_t),
               "an atomic view of a uint64_t counter is the counter");
_Static_assert(sizeof(_Atomic(uintptr_t)) == sizeof(uintptr_t) && _Alignof(_Atomic(uintptr_t)) == _Alignof(uintptr_t),
               "an atomic view of a block's word is the word");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_POINTER_LOCK_FREE == 2, "word atomics are lock-free");

#endif

"""Model-based random testing of each variant through ctypes.

Hypothesis drives random sequences of malloc/free/realloc/calloc/memalign
against a model of the live blocks and checks, after every step: contents
survive, blocks never overlap, alignment, usable size, calloc zeroes, and
the library's counters agree with the model (allocs - frees per pool ==
live blocks in that pool as hak_pool_of says).  Double frees, frees of
interior pointers and realloc of either are thrown in (in count mode): each
is counted once as invalid and changes nothing -- no block is ever handed out
twice or overlaps a live one.
"""
from __future__ import annotations

import bisect

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, consumes, initialize, invariant,
                                 rule, run_state_machine_as_test)

from reportgen.measuring.native import POOLS

TINY = st.integers(1, 2047)
MID = st.integers(2048, 32768)
# Large: spans mostly, now and then a block past HAK_LARGE_HUGE_MIN (4 MiB: a mapping of its own)
LARGE = st.integers(0, 9).flatmap(
    lambda r: st.integers(32769, (1 << 20) - 1) if r < 8 else st.integers(1 << 20, 6 << 20))
EDGES = st.sampled_from([1, 15, 16, 17, 1023, 1024, 1025, 2046, 2047, 2048, 2049, 4095, 4096,
                         8192, 16385, 32767, 32768, 32769])
# Tiny and Mid mostly; Large rare (5%, and at most MAX_LARGE_LIVE live at once).
SIZES = st.integers(0, 99).flatmap(
    lambda r: TINY if r < 45 else MID if r < 85 else EDGES if r < 95 else LARGE)
ALIGNMENTS = st.sampled_from([16, 16, 32, 64, 64, 128, 256, 1024, 4096, 65536])
MAX_LARGE_LIVE = 8


class Block:
    __slots__ = ("ptr", "size", "usable", "byte", "pool")

    def __init__(self, ptr, size, usable, byte, pool):
        self.ptr, self.size, self.usable, self.byte, self.pool = ptr, size, usable, byte, pool


class AllocatorModel(RuleBasedStateMachine):
    blocks = Bundle("blocks")

    def __init__(self, lib):
        super().__init__()
        self.lib = lib
        self.live: dict[int, Block] = {}
        self.starts: list[int] = []      # sorted start addresses of live blocks
        self.next_byte = 1
        self.freed: list[int] = []       # pointers freed (some since handed out again)
        self.invalid_frees = 0           # bad frees this run made, as the library must count them

    # ---- helpers ----
    def _pattern(self) -> int:
        self.next_byte = self.next_byte % 251 + 1   # never 0, so calloc zeroes are distinguishable
        return self.next_byte

    def _large_live(self) -> int:
        return sum(1 for b in self.live.values() if b.pool == 3)

    def _check_no_overlap(self, ptr: int, usable: int) -> None:
        i = bisect.bisect_left(self.starts, ptr)
        if i < len(self.starts):
            nxt = self.live[self.starts[i]]
            assert ptr + usable <= nxt.ptr, f"block {ptr:#x}+{usable} overlaps live {nxt.ptr:#x}+{nxt.usable}"
        if i > 0:
            prev = self.live[self.starts[i - 1]]
            assert prev.ptr + prev.usable <= ptr, \
                f"block {ptr:#x}+{usable} overlaps live {prev.ptr:#x}+{prev.usable}"

    def _admit(self, ptr: int, size: int, alignment: int = 16) -> Block:
        lib = self.lib
        assert ptr != 0, f"allocation of {size} bytes returned NULL"
        assert ptr % 16 == 0, f"{ptr:#x} ({size} bytes) is not 16-byte aligned"
        assert ptr % alignment == 0, f"{ptr:#x} is not aligned to the requested {alignment}"
        usable = lib.usable_size(ptr)
        assert usable >= size, f"usable size {usable} < requested {size}"
        pool = lib.pool_of(ptr)
        assert POOLS.get(pool), f"hak_pool_of({ptr:#x}) = {pool} for a live block"
        assert ptr not in self.live, f"{ptr:#x} handed out twice"
        self._check_no_overlap(ptr, usable)
        block = Block(ptr, size, usable, self._pattern(), pool)
        lib.fill(ptr, block.byte, usable)   # the whole usable size must really be usable
        self.live[ptr] = block
        bisect.insort(self.starts, ptr)
        return block

    def _verify(self, block: Block, length: int | None = None) -> None:
        length = block.usable if length is None else length
        data = self.lib.read(block.ptr, length)
        assert data == bytes([block.byte]) * length, \
            f"contents of {block.ptr:#x} ({block.size} B, pool {POOLS[block.pool]}) changed"

    def _forget(self, block: Block) -> None:
        del self.live[block.ptr]
        self.starts.pop(bisect.bisect_left(self.starts, block.ptr))

    # ---- rules ----
    @initialize()
    def start(self):
        self.lib.reset_stats()
        self.mode_before = self.lib.invalid_free_mode("count")  # bad frees are counted, not fatal

    def _bad_free_target(self, choice: int, offset: int) -> int | None:
        """A pointer that is not a live block: one freed earlier and not handed out again
        (a double free), or an address inside a live block (an interior pointer)."""
        stale = [p for p in self.freed if p not in self.live]
        if choice % 2 == 0 and stale:
            return stale[choice // 2 % len(stale)]
        if self.live:
            block = self.live[self.starts[choice % len(self.starts)]]
            if block.usable > 1:
                return block.ptr + 1 + offset % (block.usable - 1)
        return None

    @rule(choice=st.integers(0, 1 << 16), offset=st.integers(0, 1 << 20), realloc=st.booleans())
    def bad_free(self, choice, offset, realloc):
        """Double and invalid frees are counted and change nothing: no block is handed out twice."""
        ptr = self._bad_free_target(choice, offset)
        if ptr is None:
            return
        before = self.lib.stats()
        if realloc:
            assert self.lib.realloc(ptr, 100) == 0, f"realloc of the invalid pointer {ptr:#x} succeeded"
        else:
            self.lib.free(ptr)
        after = self.lib.stats()
        self.invalid_frees += 1
        assert after["invalid_frees"] == self.invalid_frees, (ptr, after)
        assert after["double_frees"] <= after["invalid_frees"], after
        for name in ("tiny", "mid", "large"):
            assert after[f"{name}_frees"] == before[f"{name}_frees"], (name, ptr, after)

    @rule(target=blocks, size=SIZES)
    def malloc(self, size):
        if size > 32768 and self._large_live() >= MAX_LARGE_LIVE:
            size = 32768
        return self._admit(self.lib.malloc(size), size).ptr

    @rule(target=blocks, count=st.integers(1, 32), size=st.integers(1, 1024))
    def calloc(self, count, size):
        total = count * size
        if total > 32768 and self._large_live() >= MAX_LARGE_LIVE:
            count, total = 1, size
        ptr = self.lib.calloc(count, size)
        assert ptr != 0
        data = self.lib.read(ptr, total)
        assert data.count(0) == total, f"calloc({count}, {size}) at {ptr:#x} is not zeroed"
        return self._admit(ptr, total).ptr

    @rule(target=blocks, alignment=ALIGNMENTS, size=SIZES)
    def memalign(self, alignment, size):
        if size > 32768 and self._large_live() >= MAX_LARGE_LIVE:
            size = 32768
        return self._admit(self.lib.memalign(alignment, size), size, alignment).ptr

    @rule(ptr=consumes(blocks))
    def free(self, ptr):
        block = self.live[ptr]
        self._verify(block)
        self._forget(block)
        self.lib.free(ptr)
        self.freed.append(ptr)

    @rule(target=blocks, ptr=consumes(blocks), size=SIZES)
    def realloc(self, ptr, size):
        if size > 32768 and self._large_live() >= MAX_LARGE_LIVE:
            size = 32768
        old = self.live[ptr]
        self._verify(old)
        self._forget(old)
        new = self.lib.realloc(ptr, size)
        assert new != 0, f"realloc({ptr:#x}, {size}) returned NULL"
        if new != ptr:
            self.freed.append(ptr)
        kept = min(old.usable, size)
        assert self.lib.read(new, kept) == bytes([old.byte]) * kept, \
            f"realloc({old.size} -> {size}) lost contents"
        return self._admit(new, size).ptr

    @rule()
    def free_null(self):
        self.lib.free(0)  # must be a no-op

    # ---- invariants ----
    @invariant()
    def counters_match_model(self):
        stats = self.lib.stats()
        for pid, name in POOLS.items():
            if not name:
                continue
            live = sum(1 for b in self.live.values() if b.pool == pid)
            allocs, frees = stats[f"{name}_allocs"], stats[f"{name}_frees"]
            assert allocs - frees == live, \
                f"{name}: allocs {allocs} - frees {frees} != {live} live blocks (counters {stats})"
        assert stats["leaked_blocks"] == 0  # single thread: nothing is ever remote

    @invariant()
    def live_blocks_keep_their_pool(self):
        for block in self.live.values():
            assert self.lib.pool_of(block.ptr) == block.pool

    def teardown(self):
        for block in list(self.live.values()):
            self._verify(block)
            self._forget(block)
            self.lib.free(block.ptr)
        if getattr(self, "mode_before", None):
            self.lib.invalid_free_mode(self.mode_before)


def test_random_sequences(hak):
    run_state_machine_as_test(
        lambda: AllocatorModel(hak),
        settings=settings(max_examples=150, stateful_step_count=50, deadline=None,
                          suppress_health_check=list(HealthCheck)),
    )


def test_foreign_and_null_pointers_are_not_hak(hak):
    """hak_pool_of / hak_usable_size say 'not mine' for memory hak did not hand out."""
    import ctypes

    buf = ctypes.create_string_buffer(64)     # Python's memory
    local = ctypes.c_long(0)
    for ptr in (0, ctypes.addressof(buf), ctypes.addressof(local)):
        assert hak.pool_of(ptr) == 0
        assert hak.usable_size(ptr) == 0


def test_memalign_rejects_bad_alignment(hak):
    assert hak.memalign(24, 100) == 0   # not a power of two: NULL (and EINVAL)


def test_loaded_build_is_the_intended_kind(hak, lib_kind):
    """Under REPORTGEN_SANITIZE=1 the sanitized, HAK_DEBUG build is what these tests exercise."""
    assert hak.config()["debug"] is (lib_kind == "asan")
    assert hak.path.stem.endswith("-asan") is (lib_kind == "asan")

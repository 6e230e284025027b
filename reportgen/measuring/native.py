"""ctypes binding of one built hak library (the functions of native/hak.h).

Pointers are plain ints (0 is NULL).  ctypes releases the GIL during each
foreign call, so Python threads calling these really run the allocator
concurrently -- which the cross-thread tests rely on.

Loading the same path twice gives the same library (the dynamic loader
shares it): its counters are process-wide.
"""
from __future__ import annotations

import ctypes
import json
from ctypes import c_char_p, c_int, c_size_t, c_void_p
from pathlib import Path

# The pools, by the id hak_route/hak_pool_of return (enum hak_pool in native/hak.h): the one list of pool names.
POOLS = {0: None, 1: "tiny", 2: "mid", 3: "large"}
POOL_NAMES = tuple(name for name in POOLS.values() if name)
POOL_IDS = {name: pid for pid, name in POOLS.items() if name}


class HakLib:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lib = lib = ctypes.CDLL(str(self.path))
        sig = {
            "hak_malloc": (c_void_p, [c_size_t]),
            "hak_free": (None, [c_void_p]),
            "hak_calloc": (c_void_p, [c_size_t, c_size_t]),
            "hak_realloc": (c_void_p, [c_void_p, c_size_t]),
            "hak_memalign": (c_void_p, [c_size_t, c_size_t]),
            "hak_usable_size": (c_size_t, [c_void_p]),
            "hak_pool_of": (c_int, [c_void_p]),
            "hak_block_footprint": (c_size_t, [c_size_t]),
            "hak_route": (c_int, [c_size_t]),
            "hak_config_json": (c_size_t, [c_char_p, c_size_t]),
            "hak_stats_json": (c_size_t, [c_char_p, c_size_t]),
            "hak_stats_reset": (None, []),
            "hak_invalid_free_mode": (c_int, [c_int]),
        }
        for name, (restype, argtypes) in sig.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        self._config: dict | None = None

    def __repr__(self) -> str:
        return f"HakLib({str(self.path)!r})"

    # ---- allocation (0 stands for NULL) ----
    def malloc(self, size: int) -> int:
        return self._lib.hak_malloc(size) or 0

    def free(self, ptr: int) -> None:
        self._lib.hak_free(ptr or None)

    def calloc(self, count: int, size: int) -> int:
        return self._lib.hak_calloc(count, size) or 0

    def realloc(self, ptr: int, size: int) -> int:
        return self._lib.hak_realloc(ptr or None, size) or 0

    def memalign(self, alignment: int, size: int) -> int:
        return self._lib.hak_memalign(alignment, size) or 0

    def usable_size(self, ptr: int) -> int:
        return self._lib.hak_usable_size(ptr or None)

    # ---- introspection ----
    def pool_of(self, ptr: int) -> int:
        return self._lib.hak_pool_of(ptr or None)

    def pool_name(self, ptr: int) -> str | None:
        return POOLS.get(self.pool_of(ptr))

    def route(self, size: int) -> int:
        return self._lib.hak_route(size)

    def route_name(self, size: int) -> str | None:
        return POOLS.get(self.route(size))

    def block_footprint(self, size: int) -> int:
        return self._lib.hak_block_footprint(size)

    def _json(self, fn) -> dict:
        cap = 4096
        while True:
            buf = ctypes.create_string_buffer(cap)
            need = fn(buf, cap)
            if need < cap:
                return json.loads(buf.value.decode())
            cap = need + 1

    def config(self) -> dict:
        """Thresholds, classes, flags and variant name, as the library reports them (never retyped)."""
        if self._config is None:
            self._config = self._json(self._lib.hak_config_json)
        return dict(self._config)

    def stats(self) -> dict:
        """The counters, summed over every thread's heap."""
        return self._json(self._lib.hak_stats_json)

    def reset_stats(self) -> None:
        self._lib.hak_stats_reset()

    # ---- invalid frees ----
    INVALID_FREE_MODES = {0: None, 1: "abort", 2: "count"}

    def invalid_free_mode(self, mode: str | None = None) -> str:
        """What a free of a pointer hak did not hand out does ("abort", glibc's way, or
        "count"); sets it when `mode` is given, and returns the mode in force before."""
        code = {None: 0, "abort": 1, "count": 2}[mode]
        return self.INVALID_FREE_MODES[self._lib.hak_invalid_free_mode(code)]

    # ---- memory access helpers for tests and drivers ----
    @staticmethod
    def write(ptr: int, data: bytes) -> None:
        ctypes.memmove(ptr, data, len(data))

    @staticmethod
    def read(ptr: int, size: int) -> bytes:
        return ctypes.string_at(ptr, size)

    @staticmethod
    def fill(ptr: int, byte: int, size: int) -> None:
        ctypes.memset(ptr, byte, size)

"""Layouts drawn from a recorded seed: what each allocator's timed build and child get in one layout.

A layout of one allocator is: a code pad and a data pad in front of the allocator's text and data
(native/layout.c, linked first), the order its other objects are linked in, the driver's own code
and data pads, and the size of one environment variable of the child (which moves its stack, as
in Mytkowicz et al.; under ASLR the kernel already moves the stack inside 8 KiB in every process)
-- and, in the placement experiment only (heap=True), the offset of a Mid segment's first block
and of a thread heap in its page (hak only).

The draw of layout `index` for allocator `name` depends on (seed, index, name) only, so a recorded
(seed, index) rebuilds the same layout.  Each allocator draws its own: a comparison's sides never
share a layout by construction, and one variant run under two names (an A/A) gets two layouts.
"""
from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass

import numpy as np

CODE_PAD_MAX = 4096        # an address's offset in its page: what ASLR never moves
DATA_PAD_MAX = 4096
MID_OFFSET_MAX = 4096
HEAP_OFFSET_MAX = 4096
ENV_PAD_MAX = 4096
ENV_VAR = "HAK_LAYOUT_ENV_PAD"


@dataclass(frozen=True)
class Layout:
    """One allocator's placement in one layout (all sizes in bytes)."""
    seed: int
    index: int
    code_pad: int
    data_pad: int
    order: tuple[str, ...]       # the allocator's objects (source stems) after layout.o, in link order
    mid_chunk_offset: int
    heap_offset: int
    driver_code_pad: int
    driver_data_pad: int
    env_pad: int

    def macros(self) -> dict[str, str]:
        """The allocator's layout.c flags."""
        return {"HAK_LAYOUT_CODE_PAD": str(self.code_pad), "HAK_LAYOUT_DATA_PAD": str(self.data_pad),
                "HAK_MID_CHUNK_OFFSET": str(self.mid_chunk_offset), "HAK_HEAP_OFFSET": str(self.heap_offset)}

    def driver_macros(self) -> dict[str, str]:
        return {"HAK_LAYOUT_CODE_PAD": str(self.driver_code_pad), "HAK_LAYOUT_DATA_PAD": str(self.driver_data_pad)}

    def env(self) -> dict[str, str]:
        return {ENV_VAR: "x" * self.env_pad}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["order"] = list(self.order)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Layout":
        return cls(**{**d, "order": tuple(d["order"])})


def draw(seed: int, index: int, name: str, objects: list[str], heap: bool = False) -> Layout:
    """Layout `index` of allocator `name` under `seed`; `objects`: its object stems but layout.

    heap=False (what every comparison runs in): the Mid chunk and heap offsets stay 0, as in the
    allocator users get -- where hak starts its blocks is its design, not an accident of a build --
    and only what any rebuild or environment moves is drawn.  heap=True draws them too: the
    placement experiment (the same draws otherwise)."""
    rng = np.random.default_rng([int(seed) % (2 ** 63), int(index), zlib.crc32(name.encode())])
    step = lambda top, unit: int(rng.integers(0, top // unit)) * unit   # noqa: E731
    order = tuple(str(o) for o in rng.permutation(sorted(objects)))
    code_pad, data_pad = step(CODE_PAD_MAX, 16), step(DATA_PAD_MAX, 64)
    mid, heap_off = step(MID_OFFSET_MAX, 16), step(HEAP_OFFSET_MAX, 64)
    return Layout(seed=int(seed), index=int(index), code_pad=code_pad, data_pad=data_pad, order=order,
                  mid_chunk_offset=mid if heap else 0, heap_offset=heap_off if heap else 0,
                  driver_code_pad=step(CODE_PAD_MAX, 16), driver_data_pad=step(DATA_PAD_MAX, 64),
                  env_pad=int(rng.integers(0, ENV_PAD_MAX)))

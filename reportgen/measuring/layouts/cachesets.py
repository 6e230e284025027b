"""Which cache sets a workload's live blocks occupy, per allocator: measured addresses, not a formula.

A child opens the gap workload on one allocator, runs its warm-up, and reads back every live
block's address and size index (bench_gap_addresses), plus, when it runs as root and
/proc/self/pagemap gives frame numbers, each block's physical address.  `set_view` maps those
addresses onto each data/unified cache level of this machine (machine.cache_geometry): per size
class and over all blocks, how many sets the line holding a block's user pointer (and, for a
block with a header, the line holding the header) falls in, the most blocks on one set, and how
many blocks exceed the set's ways, i.e. cannot all stay cached together.  Levels whose index
fits in the page offset (L1d: sets x line <= page) are decided exactly by virtual addresses;
wider levels need physical addresses, and without them only the page offset's share of the
index is reported (`indexed_by`).  What it cannot show: it is where the blocks are, not whether
the misses happen (that depends on the access order and on everything else that lives on those
sets; callgrind's simulated misses are `reportgen counts`), it looks only at a block's first
line (and its header's), physical set indices assume a plain modulo index (a sliced last-level
cache hashes addresses onto slices), and under a hypervisor the frame numbers are the guest's,
not the host's.
"""
from __future__ import annotations

import os

# numpy is imported where the view is computed: the child (python -S, standard library only) never needs it
# A level with more bins gives its occupied bins only (sparse: [bin, count] pairs, at most one per block):
# dense lists of L2's 2048 sets made a three-allocator record 1.2 MB.
HISTOGRAM_MAX_BINS = 512
PAGEMAP_PFN_MASK = (1 << 55) - 1
PAGEMAP_PRESENT = 1 << 63


# ---- child side: where the blocks are --------------------------------------------------------

def _hypervisor() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and " hypervisor" in line for line in f)
    except OSError:
        return False


def physical_addresses(addrs, page: int) -> tuple[list[int] | None, str]:
    """Physical addresses of `addrs` (virtual, in this process) from /proc/self/pagemap, 0 where a page is
    not present; (None, why) when the frame numbers cannot be read."""
    if os.geteuid() != 0:
        return None, "not running as root: /proc/self/pagemap gives no frame numbers"
    frames: dict[int, int] = {}
    try:
        with open("/proc/self/pagemap", "rb") as f:
            for vpage in sorted({a // page for a in addrs}):
                f.seek(vpage * 8)
                raw = f.read(8)
                if len(raw) != 8:
                    return None, "/proc/self/pagemap: short read"
                entry = int.from_bytes(raw, "little")
                frames[vpage] = entry & PAGEMAP_PFN_MASK if entry & PAGEMAP_PRESENT else 0
    except OSError as exc:
        return None, f"/proc/self/pagemap: {exc.strerror or exc}"
    if not any(frames.values()):
        return None, ("/proc/self/pagemap gives no frame numbers (all 0: the kernel hides them without "
                      "CAP_SYS_ADMIN)")
    note = "from /proc/self/pagemap"
    if _hypervisor():
        note += ("; under a hypervisor these are guest-physical frames: the host's frames decide the real "
                 "sets of bits above the host page offset")
    return [frames[a // page] * page + a % page if frames[a // page] else 0 for a in addrs], note


def child_addresses(req: dict) -> dict:
    """The child kind "addresses": open the gap workload (sizes, slots, seed), run `warmup_ops`, read the
    live blocks.  Request: bench_lib, hak_lib (or None), sizes, slots, seed, warmup_ops."""
    import ctypes
    from ctypes import POINTER, c_uint8, c_uint32, c_uint64, c_void_p

    lib = ctypes.CDLL(req["bench_lib"])
    lib.bench_gap_open.restype = c_void_p
    lib.bench_gap_open.argtypes = [POINTER(c_uint64), c_uint32, c_uint32, c_uint64]
    lib.bench_gap_step.restype = c_uint64
    lib.bench_gap_step.argtypes = [c_void_p, c_uint64, POINTER(c_uint64)]
    lib.bench_gap_addresses.restype = c_uint32
    lib.bench_gap_addresses.argtypes = [c_void_p, POINTER(c_uint64), POINTER(c_uint8), c_uint32]
    lib.bench_gap_close.restype = None
    lib.bench_gap_close.argtypes = [c_void_p]

    sizes = [int(s) for s in req["sizes"]]
    slots = int(req["slots"])
    config, routes, header_bytes = None, [None] * len(sizes), [None] * len(sizes)
    if req.get("hak_lib"):
        from ..native import HakLib
        hak = HakLib(req["hak_lib"])     # the library the driver links: the same one, loaded once
        full = hak.config()
        config = {k: full.get(k) for k in ("variant", "mid_free", "mid_header_bytes", "tiny_header_bytes",
                                           "mid_block_pad", "mid_chunk_offset", "mid_classes") if k in full}
        routes = [hak.route_name(s) for s in sizes]
        header_bytes = [int(full.get(f"{r}_header_bytes") or 0) if r in ("tiny", "mid") else None
                        for r in routes]

    arr = (c_uint64 * len(sizes))(*sizes)
    g = lib.bench_gap_open(arr, len(sizes), slots, int(req["seed"]) & (2**64 - 1))
    if not g:
        return {"ok": False, "failure": "bench_gap_open failed (bad parameters or out of memory)"}
    try:
        if req.get("warmup_ops"):
            lib.bench_gap_step(g, int(req["warmup_ops"]), None)
        addr = (c_uint64 * slots)()
        kidx = (c_uint8 * slots)()
        n = lib.bench_gap_addresses(g, addr, kidx, slots)
        addresses, size_index = list(addr[:n]), list(kidx[:n])
        page = os.sysconf("SC_PAGE_SIZE")
        # while the blocks are live: their pages are mapped (the driver writes one byte into each)
        phys, note = physical_addresses(addresses, page)
        header_phys = None
        if phys is not None and any(header_bytes):
            hdr = [a - (header_bytes[k] or 0) for a, k in zip(addresses, size_index)]
            header_phys, _ = physical_addresses(hdr, page)
    finally:
        lib.bench_gap_close(g)
    return {"ok": True, "sizes": sizes, "slots": slots, "warmup_ops": int(req.get("warmup_ops") or 0),
            "addresses": addresses, "size_index": size_index, "page_size": page,
            "config": config, "routes": routes, "header_bytes": header_bytes,
            "physical": phys, "header_physical": header_phys, "physical_note": note}


# ---- the view: addresses onto cache sets -------------------------------------------------------

def levels(geometry: dict) -> dict[str, dict]:
    """The data and unified levels of `geometry` (machine.cache_geometry()) with their sets."""
    out = {}
    for name, g in geometry.items():
        if name.endswith("i"):          # instruction caches hold no heap block
            continue
        line, ways = int(g["line"]), int(g["assoc"])
        out[name] = {"size": int(g["size"]), "line": line, "ways": ways, "sets": int(g["size"]) // (line * ways)}
    return out


def _occupancy(bins, nbins: int, ways: int, sets_per_bin: int) -> dict:
    import numpy as np
    counts = np.bincount(bins, minlength=nbins) if bins.size else np.zeros(nbins, dtype=np.int64)
    capacity = ways * sets_per_bin
    over = np.maximum(counts - capacity, 0)
    exact = sets_per_bin == 1
    dense = nbins <= HISTOGRAM_MAX_BINS
    occupied = np.flatnonzero(counts)
    return {"blocks": int(bins.size),
            "distinct_bins": int(occupied.size), "max_per_bin": int(counts.max()) if bins.size else 0,
            "distinct_sets": int(occupied.size) if exact else None,
            "max_per_set": (int(counts.max()) if bins.size else 0) if exact else None,
            "capacity_per_bin": capacity,
            "bins_over_capacity": int(np.count_nonzero(over)), "blocks_over_capacity": int(over.sum()),
            "histogram": counts.tolist() if dense else None,
            "occupied": None if dense else [[int(b), int(counts[b])] for b in occupied]}


def _bins(addrs, level: dict, mode: str, page: int) -> tuple:
    """(bin of each address, number of bins, sets per bin): a bin is a set, except when only the page
    offset is known, where it is the group of sets sharing the index bits the page offset decides."""
    line, sets = level["line"], level["sets"]
    if mode == "page offset only":
        nbins = page // line
        return ((addrs % page) // line).astype("int64"), nbins, sets // nbins
    return ((addrs // line) % sets).astype("int64"), sets, 1


def set_view(addresses, size_index, sizes, geometry, header_bytes=0, physical=None, *,
             header_physical=None, page_size: int | None = None, routes=None) -> dict:
    """Where the blocks fall on each data/unified level of `geometry`.

    addresses: user pointers (virtual); size_index: each one's index into `sizes`; header_bytes: an int or
    one per size (None: unknown, treated as 0), the header sitting at ptr - header_bytes; physical /
    header_physical: physical addresses of the user pointers / headers (0: page not present), or None.
    Returns {"page_size", "levels": {name: {"size", "line", "sets", "ways", "indexed_by", "bins",
    "sets_per_bin", "unplaced", "classes": [{"size", "pool", "header_bytes", "blocks", "user", "header"}],
    "all": {"blocks", "user", "header"}}}}, each "user"/"header" an occupancy: blocks, distinct_bins,
    max_per_bin, distinct_sets, max_per_set (None unless a bin is one set), capacity_per_bin (ways x sets
    per bin), bins_over_capacity, blocks_over_capacity (blocks beyond the capacity of their bin: they
    cannot all stay cached; a lower bound when a bin holds several sets), histogram (counts per bin) or,
    for more than HISTOGRAM_MAX_BINS bins, occupied ([bin, count] pairs).
    """
    import numpy as np

    page = int(page_size or os.sysconf("SC_PAGE_SIZE"))
    addrs = np.asarray(addresses, dtype=np.uint64)
    kidx = np.asarray(size_index, dtype=np.int64)
    if addrs.shape != kidx.shape:
        raise ValueError("addresses and size_index differ in length")
    sizes = [int(s) for s in sizes]
    if kidx.size and (kidx.min() < 0 or kidx.max() >= len(sizes)):
        raise ValueError("a size index is outside sizes")
    hb = list(header_bytes) if isinstance(header_bytes, (list, tuple)) else [header_bytes] * len(sizes)
    hb_arr = np.asarray([int(h or 0) for h in hb], dtype=np.uint64)
    block_hb = hb_arr[kidx] if kidx.size else np.zeros(0, dtype=np.uint64)
    has_header = block_hb > 0
    hdr_addrs = addrs - block_hb
    phys = None if physical is None else np.asarray(physical, dtype=np.uint64)
    hphys = None if header_physical is None else np.asarray(header_physical, dtype=np.uint64)

    out_levels = {}
    for name, lv in levels(geometry).items():
        span = lv["sets"] * lv["line"]
        mode = "virtual" if span <= page else ("physical" if phys is not None else "page offset only")
        if mode == "physical":
            user_a, user_ok = phys, phys != 0
            hdr_a = hphys if hphys is not None else np.zeros_like(phys)
            hdr_ok = hdr_a != 0
        else:
            user_a, user_ok = addrs, np.ones(addrs.shape, dtype=bool)
            hdr_a, hdr_ok = hdr_addrs, np.ones(addrs.shape, dtype=bool)
        ub, nbins, per_bin = _bins(user_a, lv, mode, page)
        hbins, _, _ = _bins(hdr_a, lv, mode, page)

        def occ(mask_blocks, header: bool):
            ok = mask_blocks & (hdr_ok if header else user_ok)
            return _occupancy((hbins if header else ub)[ok], nbins, lv["ways"], per_bin)

        classes = []
        for k, size in enumerate(sizes):
            mine = kidx == k
            with_hdr = int(hb_arr[k]) > 0
            classes.append({"size": size, "pool": routes[k] if routes else None,
                            "header_bytes": hb[k] if hb[k] is None else int(hb[k]),
                            "blocks": int(np.count_nonzero(mine)), "user": occ(mine, False),
                            "header": occ(mine & has_header, True) if with_hdr else None})
        every = np.ones(addrs.shape, dtype=bool)
        out_levels[name] = {
            **lv, "span_bytes": span, "indexed_by": mode, "bins": nbins, "sets_per_bin": per_bin,
            "unplaced": int(np.count_nonzero(~user_ok)),
            "classes": classes,
            "all": {"blocks": int(addrs.size), "user": occ(every, False),
                    "header": occ(has_header, True) if bool(has_header.any()) else None}}
    return {"page_size": page, "levels": out_levels}


# ---- parent side: one child per allocator ------------------------------------------------------

def header_source(config: dict | None) -> str:
    if config is None:
        return "not known (a system allocator: its own metadata is not modelled here)"
    pad = config.get("mid_block_pad")
    return (f"the library's config: mid_header_bytes {config.get('mid_header_bytes')}, mid_block_pad {pad}"
            + (" (padding after each Mid block: it moves the blocks, adds no line before them)" if pad else ""))

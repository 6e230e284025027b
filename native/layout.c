/* layout.c -- where the code, the data and the heap land, and nothing else.
 *
 * Placement moves a micro-benchmark by several percent with no change to the
 * code's logic (link order and environment size: Mytkowicz et al., ASPLOS
 * 2009; Stabilizer, ASPLOS 2013).  ASLR already moves the libraries, the
 * stack and every mmap by whole pages in each process, so what it never moves
 * is an address's offset inside its page -- the bits that pick an L1 set, a
 * branch-predictor entry -- and, for hak, a block's offset inside its 4 MiB
 * segment.  A layout build (reportgen.measuring.layouts) links this file first, with the
 * values below drawn from a recorded seed, and the other objects in a drawn
 * order; the default build links it with every value 0.  Nothing here runs in
 * a timed loop: the pads are never executed or read, and the offsets are read
 * once per segment or heap created.
 *
 * It includes no allocator header: the bench drivers link it too (their own
 * code and data pads).
 *
 *   HAK_LAYOUT_CODE_PAD   bytes of never-executed code in front of the text of
 *                         every object linked after this one (a multiple of 16:
 *                         functions keep their alignment)
 *   HAK_LAYOUT_DATA_PAD   bytes in front of their initialised and zeroed data
 *                         (a multiple of 64)
 *   HAK_MID_CHUNK_OFFSET  bytes added to the offset of a Mid segment's first
 *                         block (a multiple of 16: user pointers stay aligned)
 *   HAK_HEAP_OFFSET       bytes between a thread heap's first page and the heap
 *                         (a multiple of 64: its fields keep their lines) */
#include <stdint.h>

#ifndef HAK_LAYOUT_CODE_PAD
#define HAK_LAYOUT_CODE_PAD 0
#endif
#ifndef HAK_LAYOUT_DATA_PAD
#define HAK_LAYOUT_DATA_PAD 0
#endif
#ifndef HAK_MID_CHUNK_OFFSET
#define HAK_MID_CHUNK_OFFSET 0
#endif
#ifndef HAK_HEAP_OFFSET
#define HAK_HEAP_OFFSET 0
#endif

#if HAK_LAYOUT_CODE_PAD < 0 || HAK_LAYOUT_CODE_PAD % 16 != 0
#error "HAK_LAYOUT_CODE_PAD must be a non-negative multiple of 16"
#endif
#if HAK_LAYOUT_DATA_PAD < 0 || HAK_LAYOUT_DATA_PAD % 64 != 0
#error "HAK_LAYOUT_DATA_PAD must be a non-negative multiple of 64"
#endif
#if HAK_MID_CHUNK_OFFSET < 0 || HAK_MID_CHUNK_OFFSET % 16 != 0 || HAK_MID_CHUNK_OFFSET >= 65536
#error "HAK_MID_CHUNK_OFFSET must be a multiple of 16 within 0..65520"
#endif
#if HAK_HEAP_OFFSET < 0 || HAK_HEAP_OFFSET % 64 != 0 || HAK_HEAP_OFFSET >= 65536
#error "HAK_HEAP_OFFSET must be a multiple of 64 within 0..65472"
#endif

#define _HAK_LAYOUT_STR2(x) #x
#define _HAK_LAYOUT_STR(x) _HAK_LAYOUT_STR2(x)

/* ---- code: int3 bytes, at the start of this object's .text ---------------- */
__asm__(".pushsection .text\n"
        ".p2align 4\n"
        ".fill " _HAK_LAYOUT_STR(HAK_LAYOUT_CODE_PAD) ", 1, 0xcc\n"
        ".popsection\n");

/* ---- data: one pad in .data and one in .bss ------------------------------- */
__attribute__((used, aligned(64))) static char _hak_layout_data_pad[HAK_LAYOUT_DATA_PAD + 1] = {1};
__attribute__((used, aligned(64))) static char _hak_layout_bss_pad[HAK_LAYOUT_DATA_PAD + 1];

/* ---- heap: read where segments and heaps are created ---------------------- */
const uint32_t _hak_layout_mid_chunk_offset = HAK_MID_CHUNK_OFFSET;
const uint32_t _hak_layout_heap_offset = HAK_HEAP_OFFSET;

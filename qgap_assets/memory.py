"""One process-level allocator setting for the cycle's large-array workload (Linux glibc only).

A cycle allocates and frees many arrays the size of the market (a float64 column of 2.34 M bars
is 18.7 MB). glibc serves requests above its mmap threshold with a fresh ``mmap`` and returns
them with ``munmap`` on free, so every such array is page-faulted in again from zero. The
threshold adapts upwards to the largest freed block, but only up to 32 MB: at 2.34 M bars the
columns fit under it and are recycled from the heap, at 4.68 M bars (37 MB columns) every one is
mapped afresh, page faults per cycle grow 5.8x for 2x the bars and the cycle 2.4x (measured,
bench/README.md). A fixed threshold of 1 GiB keeps them on the heap: faults grow 2x, the cycle
2.0x. Cost: freed heap memory is kept for reuse rather than returned to the OS, which in this
workload adds ~4 % to peak RSS at 4.68 M bars and nothing measurable at 2.34 M.

Applied once when ``qgap_assets`` is imported (the CLI, the Dagster code location and run
workers, the benchmarks). ``QGAP_MALLOC_TUNING=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_MMAP_THRESHOLD = -3  # <malloc.h>
MMAP_THRESHOLD_BYTES = 1 << 30


def tune_allocator() -> bool:
    """Raise glibc's mmap threshold to 1 GiB; True when applied."""
    if os.environ.get("QGAP_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, ValueError, AttributeError):  # not glibc (musl, ...): leave the allocator be
        return False

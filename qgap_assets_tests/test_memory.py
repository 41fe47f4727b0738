"""The allocator setting of qgap_assets/memory.py, observed in a real process's memory map."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import numpy as np, qgap_assets
a = np.ones(64 * 2**20 // 8)  # 64 MB: above glibc's largest adaptive mmap threshold
addr = a.ctypes.data
for line in open('/proc/self/maps'):
    lo, hi = (int(x, 16) for x in line.split()[0].split('-'))
    if lo <= addr < hi:
        print(qgap_assets.ALLOCATOR_TUNED, line.split()[-1] if len(line.split()) > 5 else 'anonymous')
"""


def _probe(**env: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env},
                         capture_output=True, text=True, check=True).stdout.split()
    return out


def test_large_arrays_come_from_the_heap_unless_turned_off() -> None:
    """Linux glibc, as on every machine this runs on (the setting is a no-op elsewhere)."""
    assert _probe() == ["True", "[heap]"]
    assert _probe(QGAP_MALLOC_TUNING="0") == ["False", "anonymous"]

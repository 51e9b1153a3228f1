"""Keep freed memory in the process, so that each training step reuses the last step's pages.

glibc's ``malloc`` serves a block larger than its mmap threshold (at most 32 MB) with a fresh
``mmap`` and returns it to the kernel on ``free``. A training step of the convolutional VAE on
``-L_50`` allocates activations of 6,400 rows x 6,272 features (160 MB) and frees them again, so
every step faults in about a quarter of a million zeroed pages: in chapter 12's run on the 2-core
development machine a third of the process's CPU time went to the kernel, and in
``benchmarks/allocator.py`` a step took 1.32 s instead of 0.80 s. :func:`keep_freed_memory`
sets two of ``mallopt``'s parameters:
``M_MMAP_MAX = 0`` (no block comes from ``mmap``: all come from the heap) and a trim threshold of
2 GB, the largest ``mallopt`` takes (the heap is handed back only when more than 2 GB of it lies
free at its top). Nothing else changes: the same computation, the
same numbers; the process keeps its peak memory until it exits, which a training run does anyway.
"""

from __future__ import annotations

import ctypes
import platform

__all__ = ["keep_freed_memory"]

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt's parameter numbers, from glibc's <malloc.h>
TRIM_THRESHOLD = 2**31 - 1  # bytes of free memory at the heap's top kept before trimming: 2 GB


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to serve every block from its heap and never to shrink the heap.

    For the rest of this process. Returns True if both settings took, False where the C library
    is not glibc (macOS, Windows, musl), which then keeps its own behaviour."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))

"""Process-level settings that make PyTorch fast and predictable on a CPU."""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache

import torch

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def configure(threads: int | None = None) -> None:
    """Set the thread count and keep large freed blocks in the heap.

    Fitting allocates and frees tens of megabyte-sized tensors every step. glibc returns such
    blocks to the OS (mmap/munmap), so every step page-faults them in again; raising the mmap
    and trim thresholds keeps them in the heap and makes a fitting step about 1.5x faster.
    """
    if threads is not None:
        if threads < 1:
            raise ValueError("threads must be >= 1")
        torch.set_num_threads(threads)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)
            libc.mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1)
        except (OSError, AttributeError):  # not glibc: nothing to tune
            pass


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """PyTorch's (process-wide) intra-op thread count set to ``count`` for a while."""
    original = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(original)


def thread_pool(name: str, workers: int, owner: Hashable = None) -> ThreadPoolExecutor:
    """A lasting pool of ``workers`` threads for ``(name, owner)`` in this process.

    Keyed by the process id too: a forked child (e.g. a ``ProcessPoolExecutor`` worker) inherits
    the parent's pool objects but not their threads, and work submitted to them would wait
    forever."""
    return _thread_pool(name, workers, owner, os.getpid())


@lru_cache(maxsize=16)
def _thread_pool(name: str, workers: int, owner: Hashable, pid: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix=f"c3-{name}")

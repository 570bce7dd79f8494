"""Process-level settings that make PyTorch fast and predictable on a CPU."""

from __future__ import annotations

import ctypes
import itertools
import os
import sys
import threading
from collections.abc import Callable, Hashable, Iterator
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


def split_over_threads(work: Callable[[range], object], num_chunks: int) -> list:
    """``work(chunk_indices)`` for each of up to ``torch.get_num_threads()`` fixed sets of chunks
    (chunk ``k`` goes to set ``k % threads``), on worker threads; the results in set order.

    ``work`` must only call the fused kernels, which release the GIL: the workers run no
    PyTorch operators, whose thread count is process-wide and not theirs to change."""
    threads = min(torch.get_num_threads(), num_chunks)
    if threads <= 1:
        return [work(range(num_chunks))]
    sets = [range(k, num_chunks, threads) for k in range(threads)]
    # one pool per calling thread: fitting runs two branches at once from two threads (see
    # ``fitting.fit.loss_and_gradients``) and their chunks must not queue behind each other
    # (a single pool whose idle workers take either's chunks was measured slower)
    return list(thread_pool("chunks", threads, threading.get_ident()).map(work, sets))


_local = threading.local()


@contextmanager
def spare_worker(pool: ThreadPoolExecutor) -> Iterator[None]:
    """Lets :func:`share_chunks` calls of this thread also use ``pool``'s worker once it is free.

    Fitting runs the synthesis and the rate on two threads (``fitting.fit``); the rate usually
    ends first, and its thread then takes synthesis chunks that are still waiting."""
    _local.spare = pool
    try:
        yield
    finally:
        _local.spare = None


def share_chunks(work: Callable[[int], object], num_chunks: int) -> None:
    """``work(k)`` for every chunk ``k``, taken in order from a shared counter by up to
    ``torch.get_num_threads()`` threads and, once it is free, the :func:`spare_worker`.

    Which thread runs which chunk varies from call to call, so ``work(k)`` must write only
    chunk ``k``'s own outputs (reductions keep per-chunk partial results, added up in chunk
    order by the caller). Like :func:`split_over_threads`, ``work`` must only call the fused
    kernels."""
    counter = itertools.count()

    def drain(_: object = None) -> None:
        for k in counter:  # next() on a count is atomic under the GIL
            if k >= num_chunks:
                return
            work(k)

    spare = getattr(_local, "spare", None)
    helper = spare.submit(drain) if spare is not None else None
    try:
        threads = min(torch.get_num_threads(), num_chunks)
        if threads <= 1:
            drain()
        else:
            list(thread_pool("chunks", threads, threading.get_ident()).map(drain, range(threads)))
    finally:
        if helper is not None and not helper.cancel():
            helper.result()  # it may be running a chunk: wait for it (and re-raise its errors)

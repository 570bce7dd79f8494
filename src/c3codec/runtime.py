"""Process-level settings that make PyTorch fast and predictable on a CPU, and the threads the
compiled kernels run on.

PyTorch is imported only where it is used: decoding needs none of it, and importing it takes
seconds (``c3 decode`` starts in a fraction of that without it)."""

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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


_threads: int | None = None


def configure(threads: int | None = None, with_torch: bool = True) -> None:
    """Set the thread count (PyTorch's too, unless ``with_torch`` is False: then PyTorch is not
    imported) and keep large freed blocks in the heap.

    Fitting allocates and frees tens of megabyte-sized tensors every step. glibc returns such
    blocks to the OS (mmap/munmap), so every step page-faults them in again; raising the mmap
    and trim thresholds keeps them in the heap and makes a fitting step about 1.5x faster.
    """
    global _threads
    if threads is not None:
        if threads < 1:
            raise ValueError("threads must be >= 1")
        _threads = threads
    if with_torch or "torch" in sys.modules:
        import torch

        if threads is not None:
            torch.set_num_threads(threads)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)
            libc.mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1)
        except (OSError, AttributeError):  # not glibc: nothing to tune
            pass


def threads() -> int:
    """Threads for the compiled kernels: PyTorch's count where PyTorch is loaded, else the
    configured count, else every core."""
    if "torch" in sys.modules:
        return sys.modules["torch"].get_num_threads()
    if _threads:
        return _threads
    try:
        return len(os.sched_getaffinity(0)) or 1  # the cores this process may run on
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def fitting_device(device: str | torch.device) -> torch.device:
    """The torch device to fit on, checked up front: asking for CUDA on a machine or PyTorch
    build without it is a one-line ``ValueError`` here, not an assertion from inside torch."""
    import torch

    if not isinstance(device, torch.device):
        try:
            device = torch.device(device)
        except RuntimeError:
            raise ValueError(f"not a device (e.g. cpu, cuda, cuda:1): {device!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{device}: CUDA is not available (no GPU visible, or PyTorch built without CUDA)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"{device}: only {torch.cuda.device_count()} CUDA device(s) visible")
    elif device.type != "cpu":
        raise ValueError(f"{device}: only cpu and cuda devices are supported")
    return device


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """PyTorch's (process-wide) intra-op thread count set to ``count`` for a while."""
    import torch

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


_local = threading.local()


class _Chunks:
    """``work(k)`` for chunks ``k < count`` taken in order from a shared counter, by any number
    of threads; remembers the first error and how many threads are inside."""

    def __init__(self, work: Callable[[int], object], count: int):
        self.work, self.count = work, count
        self.counter = itertools.count()
        self.exhausted = False  # every chunk taken
        self.done = threading.Condition()
        self.active = 0
        self.error: BaseException | None = None

    def drain(self) -> None:
        with self.done:
            self.active += 1
        try:
            for k in self.counter:  # next() on a count is atomic under the GIL
                if k >= self.count or self.error is not None:
                    self.exhausted = True
                    return
                self.work(k)
        except BaseException as error:  # re-raised by the owner, whoever ran the chunk
            self.error = self.error or error
        finally:
            with self.done:
                self.active -= 1
                self.done.notify_all()

    def wait(self) -> None:
        """Until no thread runs a chunk any more; re-raises a chunk's error."""
        with self.done:
            self.done.wait_for(lambda: self.active == 0)
        if self.error is not None:
            raise self.error


class _Board:
    """Chunked work of concurrent branches (:func:`run_branches`), open to whichever branch's
    thread is free."""

    def __init__(self, branches: int):
        self.changed = threading.Condition()
        self.posted: list[_Chunks] = []
        self.running = branches

    def post(self, chunks: _Chunks) -> None:
        with self.changed:
            self.posted.append(chunks)
            self.changed.notify_all()

    def withdraw(self, chunks: _Chunks) -> None:
        with self.changed:
            self.posted.remove(chunks)

    def run(self, branch: Callable[[], object]) -> object:
        """``branch()`` with its :func:`share_chunks` calls posted here, then the other
        branches' posted chunks until every branch is done."""
        _local.board = self
        try:
            result = branch()
        finally:
            _local.board = None
            with self.changed:
                self.running -= 1
                self.changed.notify_all()
        while True:
            with self.changed:
                self.changed.wait_for(lambda: self._open() is not None or self.running == 0)
                chunks = self._open()
                if chunks is None:
                    return result
            chunks.drain()

    def _open(self) -> _Chunks | None:
        return next((c for c in self.posted if not c.exhausted), None)


def run_branches(branches: list[Callable[[], object]]) -> list[object]:
    """The results of independent ``branches``, run at the same time: the first on this thread,
    the others on lasting worker threads. Each branch's :func:`share_chunks` calls are open to
    the other branches' threads once these have finished their own work, so a branch that ends
    early helps the others instead of waiting. Callers set the threads each branch's PyTorch
    operators use (a process-wide setting)."""
    board = _Board(len(branches))
    pool = thread_pool("branch", max(len(branches) - 1, 1))
    pending = [pool.submit(board.run, branch) for branch in branches[1:]]
    try:
        first = board.run(branches[0])
    finally:
        rest = [p.result() for p in pending]
    return [first, *rest]


def share_chunks(work: Callable[[int], object], num_chunks: int, max_threads: int | None = None) -> None:
    """``work(k)`` for every chunk ``k``, taken in order from a shared counter by up to
    ``max_threads`` threads (default :func:`threads`) and, inside :func:`run_branches`, by the
    threads of branches that have finished their own work.

    Which thread runs which chunk varies from call to call, so ``work(k)`` must write only
    chunk ``k``'s own outputs (reductions keep per-chunk partial results, added up in chunk
    order by the caller). ``work`` must only call the fused kernels, which release the GIL: the
    workers run no PyTorch operators, whose thread count is process-wide and not theirs to
    change."""
    chunks = _Chunks(work, num_chunks)
    board: _Board | None = getattr(_local, "board", None)
    if board is not None:
        board.post(chunks)
    try:
        count = min(threads() if max_threads is None else max_threads, num_chunks)
        if count > 1:
            # one pool per calling thread: concurrent branches' chunks must not queue behind
            # each other's. A helper that starts after the last chunk was taken does nothing.
            pool = thread_pool("chunks", count - 1, threading.get_ident())
            for _ in range(count - 1):
                pool.submit(chunks.drain)
        chunks.drain()  # this thread works too
    finally:
        if board is not None:
            board.withdraw(chunks)
        chunks.wait()  # a helper may still be running a chunk

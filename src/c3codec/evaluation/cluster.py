"""Where independent work runs: in this process, in local processes (``--jobs``), or as Dask
tasks (``--scheduler``) on a cluster the user already runs (``tcp://HOST:8786``) or on a
LocalCluster of N worker processes (``local:N``). ``c3 eval`` runs each (input, setting) so,
``c3 encode`` a video's patches.

Inputs travel to the workers as bytes and coded files come back as bytes, so workers need no
shared filesystem, only this package (and a C compiler for its kernels, as locally). A task
fixes its own thread count, so a result is the same bytes whichever worker ran it. A worker
that dies loses only its task: the scheduler gives it to another worker (Dask's
``distributed.scheduler.allowed-failures``, 3 by default, before giving up on it). A task that
raises is reported by the caller and the others go on; it is not retried, since the same input
fails the same way.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from ..io.images import ImageError


class TaskError(ValueError):
    """A task failed on a worker (the message names the user's input, not the worker's copy)."""


class SchedulerError(ValueError):
    """The --scheduler value is malformed, Dask is missing, or the scheduler cannot be reached."""


def check_scheduler(spec: str) -> None:
    """Fail early (before any work) on a spec that is neither ``local:N`` nor an address."""
    if re.fullmatch(r"local:[1-9]\d{0,3}", spec) or re.fullmatch(r"(tcp|tls|ws|wss|inproc)://\S+", spec):
        return
    raise SchedulerError(f"--scheduler {spec!r}: expected local:N (N worker processes) or "
                         f"tcp://HOST:PORT (a running dask scheduler)")


def _client(spec: str):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SchedulerError("--scheduler needs Dask: pip install 'c3codec[dask]' "
                             "(the distributed package)") from None
    check_scheduler(spec)
    if spec.startswith("local:"):
        cluster = LocalCluster(n_workers=int(spec[6:]), threads_per_worker=1,  # one task per worker process
                               processes=True, dashboard_address=None, silence_logs=logging.ERROR)
        return Client(cluster), cluster
    try:
        return Client(spec, timeout="30s"), None
    except (OSError, TimeoutError) as e:
        raise SchedulerError(f"cannot reach the Dask scheduler at {spec}: {e}") from None


def run_task_from_bytes(task, name: str, data: bytes):
    """Worker side: the input's bytes written under its own name in a private folder, then the
    same :func:`.runner.run_task` as a local run."""
    from .runner import run_task

    with tempfile.TemporaryDirectory(prefix="c3-task-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            return run_task(replace(task, image=path, keep=None))
        except Exception as e:  # noqa: BLE001 - said in the user's terms: their file, not ours
            raise TaskError(str(e).replace(str(path), str(task.image))) from None


def map_outcomes(function, calls: list[tuple], jobs: int = 1, scheduler: str | None = None
                 ) -> Iterator[tuple[int, object]]:
    """``function(*calls[i])`` for every i: here one after the other, in ``jobs`` local
    processes, or on the Dask cluster ``scheduler``; yields (i, result or the exception it
    raised) as each finishes (a failure does not stop the others)."""
    if scheduler:
        yield from cluster_map(scheduler, function, calls)
    elif jobs <= 1:
        for i, args in enumerate(calls):
            try:
                outcome = function(*args)
            except Exception as e:  # noqa: BLE001 - reported by the caller, the others go on
                outcome = e
            yield i, outcome
    else:
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            pending = {pool.submit(function, *args): i for i, args in enumerate(calls)}
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    i = pending.pop(future)
                    error = future.exception()
                    yield i, error if error is not None else future.result()


def cluster_map(spec: str, function, calls: list[tuple]) -> Iterator[tuple[int, object]]:
    """``function(*calls[i])`` for every i as Dask tasks on the cluster ``spec``: (i, result or
    the exception it raised), as they finish."""
    client, cluster = _client(spec)
    try:
        from distributed import as_completed

        futures = {client.submit(function, *args, pure=False): i for i, args in enumerate(calls)}
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as e:  # noqa: BLE001 - the task's own error (or KilledWorker)
                yield futures[future], e
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def cluster_workers(spec: str) -> int:
    """How many tasks the cluster runs at once (worker threads; ``local:N``: N)."""
    if spec.startswith("local:"):
        return int(spec[6:])
    client, _ = _client(spec)
    try:
        return max(1, sum(client.nthreads().values()))
    finally:
        client.close()


def dask_outcomes(tasks: list, spec: str) -> Iterator[tuple]:
    """(task, TaskResult or exception) for every task, as they finish on the cluster."""
    calls, readable = [], []
    for task in tasks:
        try:
            calls.append((task, Path(task.image).name, Path(task.image).read_bytes()))
            readable.append(task)
        except OSError as e:
            yield task, ImageError(f"{task.image}: {e.strerror}")
    for index, outcome in cluster_map(spec, run_task_from_bytes, calls):
        yield readable[index], outcome

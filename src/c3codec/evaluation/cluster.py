"""``c3 eval --scheduler``: every (input, setting) as a Dask task, on a cluster the user already
runs (``tcp://HOST:8786``) or on a LocalCluster of N worker processes (``local:N``).

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


def dask_outcomes(tasks: list, spec: str) -> Iterator[tuple]:
    """(task, TaskResult or exception) for every task, as they finish on the cluster."""
    client, cluster = _client(spec)
    try:
        from distributed import as_completed

        futures = {}
        for task in tasks:
            try:
                data = Path(task.image).read_bytes()
            except OSError as e:
                yield task, ImageError(f"{task.image}: {e.strerror}")
                continue
            future = client.submit(run_task_from_bytes, task, Path(task.image).name, data, pure=False)
            futures[future] = task
        for future in as_completed(futures):
            task = futures[future]
            try:
                yield task, future.result()
            except Exception as e:  # noqa: BLE001 - the task's own error (or KilledWorker)
                yield task, e
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

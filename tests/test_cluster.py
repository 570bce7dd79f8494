"""`c3 eval --scheduler` on a real distributed.LocalCluster of 2 workers: the same bytes as a
local run, a killed worker's task redone elsewhere, a bad input failing only its own task."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

distributed = pytest.importorskip("distributed")

from c3codec.cli import main  # noqa: E402
from c3codec.evaluation.cluster import SchedulerError, check_scheduler  # noqa: E402
from c3codec.evaluation.results import read_rows  # noqa: E402
from c3codec.evaluation.runner import EvalError, Task, run_eval  # noqa: E402


def write_image(path: Path, seed: int, size=(40, 48)) -> Path:
    y, x = np.mgrid[0:size[0], 0:size[1]]
    rgb = np.stack([127 + 100 * np.sin(x / (5 + seed) + c) * np.cos(y / 7) for c in range(3)], axis=2)
    Image.fromarray(rgb.astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def cluster():
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as c:
        yield c


def tasks(images, keep, steps=15):
    return [Task("c3", p, 1e-2, steps=steps, preset="test", threads=1, keep=keep) for p in images]


def coded(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.c3"))}


def test_same_bytes_as_local_run(tmp_path, cluster):
    images = [write_image(tmp_path / f"img{k}.png", k) for k in range(3)]
    run_eval(tasks(images, tmp_path / "local" / "files"), tmp_path / "local", progress=False, log=lambda *_: None)
    run_eval(tasks(images, tmp_path / "dask" / "files"), tmp_path / "dask", progress=False,
             log=lambda *_: None, scheduler=cluster.scheduler_address)
    local, remote = coded(tmp_path / "local" / "files"), coded(tmp_path / "dask" / "files")
    assert len(local) == 3 and local == remote
    key = lambda r: r.image  # noqa: E731
    for a, b in zip(sorted(read_rows(tmp_path / "local" / "results.tsv"), key=key),
                    sorted(read_rows(tmp_path / "dask" / "results.tsv"), key=key)):
        assert (a.bytes, a.psnr, a.bpp) == (b.bytes, b.psnr, b.bpp)


def test_killed_worker_task_is_redone(tmp_path, cluster):
    image = write_image(tmp_path / "slow.png", 5, size=(64, 80))
    local = tmp_path / "local"
    run_eval(tasks([image], local / "files", steps=120), local, progress=False, log=lambda *_: None)
    client = distributed.Client(cluster)
    killed = []

    def killer():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            for address, keys in client.processing().items():
                if keys:
                    pid = client.run(os.getpid, workers=[address])[address]
                    time.sleep(0.5)  # let it get into the fit
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=killer)
    thread.start()
    out = tmp_path / "dask"
    run_eval(tasks([image], out / "files", steps=120), out, progress=False, log=lambda *_: None,
             scheduler=cluster.scheduler_address)
    thread.join()
    client.close()
    assert killed, "the task finished before a worker could be killed"
    assert coded(out / "files") == coded(local / "files")


def test_bad_input_fails_only_its_task(tmp_path, cluster, capsys):
    good = write_image(tmp_path / "good.png", 1)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    messages = []
    with pytest.raises(EvalError, match="1 of 2 tasks failed"):
        run_eval(tasks([good, bad], None), tmp_path / "out", progress=False, log=messages.append,
                 scheduler=cluster.scheduler_address)
    assert [r.image for r in read_rows(tmp_path / "out" / "results.tsv")] == ["good"]
    failed = [m for m in messages if m.startswith("failed")]
    assert len(failed) == 1 and str(bad) in failed[0] and "c3-task-" not in failed[0]


def test_scheduler_spec_errors(tmp_path, capsys):
    for spec in ("local:0", "local:x", "8786", "http://host"):
        with pytest.raises(SchedulerError):
            check_scheduler(spec)
    image = write_image(tmp_path / "a.png", 0)
    assert main(["eval", str(image), "--lmbda", "1e-2", "--steps", "5", "--out", str(tmp_path / "o"),
                 "--scheduler", "local"]) == 2
    assert "expected local:N" in capsys.readouterr().err
    assert main(["eval", str(image), "--lmbda", "1e-2", "--steps", "5", "--out", str(tmp_path / "o"),
                 "--scheduler", "local:2", "--jobs", "2"]) == 2

"""Sweeps on executors and a real Dask LocalCluster: the store is byte-identical to local.

One LocalCluster (2 worker processes, 1 thread each) serves the module. Workers load the
trainer from Numba's on-disk cache, which the ``reference`` fixture warms by training in
this process first (a cold compile per fresh worker would take ~16 s).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
from pathlib import Path

import pytest

import fastdepth as fd
from fastdepth import distributed as dist
from fastdepth import store as st
from fastdepth import sweep
from fastdepth.engine import train_many
from tests._store_checks import assert_same_store

# 2 datasets x depths 1,2 x 3 seeds = 12 runs in 4 chunks of 3
FLAGS = ["--widths", "4", "--epochs", "20", "--n-train", "64", "--n-test", "64",
         "--eval-every", "10", "--depths", "1,2", "--seeds", "3"]  # fmt: skip
CHUNK = 3


@pytest.fixture(scope="module")
def grid() -> fd.Grid:
    return sweep.build_grid(sweep.make_parser().parse_args(FLAGS))


@pytest.fixture(scope="module")
def reference(grid, tmp_path_factory) -> Path:
    """The store written the plain way: train_many + Store.write_chunk, chunk by chunk.

    Training here also warms Numba's on-disk cache for the worker processes.
    """
    out = tmp_path_factory.mktemp("ref") / "ref"
    store = st.Store(out)
    store.create(grid, CHUNK, 1)
    runs = grid.runs()
    for k, (a, b) in enumerate(store.chunks()):
        store.write_chunk(k, a, train_many(runs[a:b], threads=1), 0.0, 1)
    return out


@pytest.fixture(scope="module")
def cluster(reference):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as c:  # fmt: skip
        with distributed.Client(c) as client:
            client.wait_for_workers(2)
            yield c, client


# ----------------------------------------------------------------------------- Dask


def test_local_cluster_store_is_byte_identical(cluster, grid, reference, tmp_path):
    _, client = cluster
    seen = []
    rep = dist.run_sweep(grid, tmp_path / "d", executor=client, chunk_size=CHUNK,
                         progress=seen.append)  # fmt: skip
    assert rep.complete and rep.trained_chunks == 4 and rep.n_chunks == 4
    assert_same_store(reference, tmp_path / "d")
    assert len({p.pid for p in seen}) == 2 and os.getpid() not in {p.pid for p in seen}
    # threads per chunk, decided in the worker: nthreads=1 and no NUMBA_NUM_THREADS -> 1
    assert {p.threads for p in seen} == {1}
    # resuming a complete store trains nothing
    again = dist.run_sweep(grid, tmp_path / "d", executor=client)
    assert again.trained_chunks == 0 and again.complete


def test_worker_threads_rule_in_a_worker(cluster):
    _, client = cluster
    assert client.submit(dist.worker_threads, None, pure=False).result() == 1
    assert client.submit(dist.worker_threads, 1, pure=False).result() == 1
    assert dist.worker_threads(None) is None  # not a Dask worker: Numba's default


def _die_once(task: dist.ChunkTask, marker: str) -> dist.ChunkParts:
    """Train the chunk, then kill the worker process before the result leaves it (once)."""
    parts = dist.train_chunk(task)
    if task.chunk == 1:
        try:
            fd_ = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return parts
        os.write(fd_, str(os.getpid()).encode())
        os.close(fd_)
        os._exit(1)
    return parts


class _DieOnce(dist.DaskBackend):
    def __init__(self, client, marker: Path) -> None:
        super().__init__(client)
        self.marker = str(marker)

    def submit(self, task):
        return self.executor.submit(_die_once, task, self.marker)


@pytest.mark.parametrize("allowed_failures", [3, 0], ids=["dask-reschedules", "killedworker"])
def test_worker_killed_mid_chunk(cluster, grid, reference, tmp_path, allowed_failures):
    """Dask reschedules the dead worker's chunk itself (allowed-failures 3), or it ends in
    KilledWorker (allowed-failures 0) and the client resubmits it: the same bytes either way."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    c, client = cluster
    old = c.scheduler.allowed_failures
    c.scheduler.allowed_failures = allowed_failures
    marker = tmp_path / "died"
    notes, seen = [], []
    out = tmp_path / "k"
    try:
        store = st.Store(out)
        out.mkdir()
        with store.lock():
            store.create(grid, CHUNK, 1)
            todo = [(k, a, b) for k, (a, b) in enumerate(store.chunks())]
            ok = dist.run_chunks(store, grid.runs(), todo, _DieOnce(client, marker),
                                 on_chunk=seen.append, note=notes.append)  # fmt: skip
    finally:
        c.scheduler.allowed_failures = old
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert ok and marker.exists()  # chunk 1 was trained once by a worker that then died
    dead = int(marker.read_text())
    assert sorted(p.chunk for p in seen) == [0, 1, 2, 3]  # each committed exactly once
    assert next(p.pid for p in seen if p.chunk == 1) != dead
    # (with allowed-failures 0, chunks queued on the dead worker end in KilledWorker too)
    resubmitted = [n for n in notes if "resubmitting" in n]
    assert any(n.startswith("chunk 1:") for n in resubmitted) == (allowed_failures == 0), notes
    assert_same_store(reference, out)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the dead worker


def test_cli_scheduler_local(grid, reference, tmp_path, capsys):
    pytest.importorskip("distributed")
    out = tmp_path / "cli"
    argv = [*FLAGS, "--chunk-size", str(CHUNK), "--scheduler", "local:2", "--out", str(out)]
    assert sweep.main(argv) == 0
    err = capsys.readouterr().err
    assert "on Dask local:2" in err and "12/12 runs" in err
    assert_same_store(reference, out)
    timing = st.load_timing(out)
    assert set(timing["threads"]) == {max(1, dist._cores() // 2)}  # cores // N per worker


# ----------------------------------------------------------------------------- executors


def test_process_pool_store_is_byte_identical(grid, reference, tmp_path):
    with dist.spawn_pool(2) as pool:
        rep = dist.run_sweep(grid, tmp_path / "p", executor=pool, chunk_size=CHUNK)
    assert rep.complete and rep.trained_chunks == 4
    assert_same_store(reference, tmp_path / "p")
    forked = cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    with forked, pytest.raises(ValueError, match="spawn"):
        dist.run_sweep(grid, tmp_path / "never", executor=forked)


class _Deferred(cf.Executor):
    """Holds back the first task until the last one is submitted: commits out of order."""

    _max_workers = 1  # two chunks in flight

    def __init__(self) -> None:
        self.held: list[tuple[cf.Future, tuple]] = []

    def submit(self, fn, /, *args, **kwargs):
        f: cf.Future = cf.Future()
        if not self.held and args[0].chunk == 0:
            self.held.append((f, args))
            return f
        f.set_running_or_notify_cancel()
        f.set_result(fn(*args))
        if args[0].chunk == 3:
            for g, a in self.held:
                g.set_running_or_notify_cancel()
                g.set_result(fn(*a))
        return f


def test_completion_order_does_not_matter(grid, reference, tmp_path):
    order = []
    rep = dist.run_sweep(grid, tmp_path / "r", executor=_Deferred(), chunk_size=CHUNK,
                         progress=lambda p: order.append(p.chunk))  # fmt: skip
    assert rep.complete and order != sorted(order)
    assert_same_store(reference, tmp_path / "r")


def test_failed_chunk_stops_the_sweep_and_keeps_committed_chunks(grid, tmp_path):
    class Broken(cf.ThreadPoolExecutor):
        def submit(self, fn, /, task, **kw):
            if task.chunk == 2:
                return super().submit(lambda: 1 / 0)
            return super().submit(fn, task, **kw)

    with Broken(1) as ex, pytest.raises(dist.ChunkFailedError, match="chunk 2 .*ZeroDivision"):
        dist.run_sweep(grid, tmp_path / "b", executor=ex, chunk_size=CHUNK)
    done = st.Store(tmp_path / "b").done_chunks()
    assert 2 not in done and not list((tmp_path / "b").rglob("*.tmp-*"))
    rep = dist.run_sweep(grid, tmp_path / "b")  # resume in process
    assert rep.trained_chunks == 4 - len(done) and len(fd.load(tmp_path / "b")) == 12


def test_malformed_result_is_never_written(grid, tmp_path):
    class Truncating(cf.ThreadPoolExecutor):
        def submit(self, fn, /, task, **kw):
            def half():
                parts = fn(task)
                del parts.parts["params"]
                return parts

            return super().submit(half)

    with Truncating(1) as ex, pytest.raises(dist.ChunkFailedError, match="incomplete"):
        dist.run_sweep(grid, tmp_path / "t", executor=ex, chunk_size=CHUNK)
    assert st.Store(tmp_path / "t").done_chunks() == []
    assert not list((tmp_path / "t" / "runs").iterdir())


# ----------------------------------------------------------------------------- the flag


def test_without_dask_the_flag_says_how_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    out = tmp_path / "never"
    assert sweep.main([*FLAGS, "--scheduler", "local:2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --scheduler needs Dask") and err.count("\n") == 1
    assert "pip install 'fastdepth[dask]'" in err and not out.exists()
    with pytest.raises(dist.DaskNotInstalledError, match=r"fastdepth\[dask\]"):
        dist.run_sweep(fd.Grid({"depth": [1]}), out, scheduler="local:1")


@pytest.mark.parametrize(
    "spec, parsed",
    [("local", ("local", None)), ("local:3", ("local", 3)), ("local[:3]", ("local", 3)),
     ("tcp://10.0.0.1:8786", ("address", "tcp://10.0.0.1:8786")),
     ("tls://head.example.org:8786", ("address", "tls://head.example.org:8786")),
     ("head:8786", ("address", "head:8786"))],
)  # fmt: skip
def test_parse_scheduler(spec, parsed):
    assert dist.parse_scheduler(spec) == parsed


@pytest.mark.parametrize("spec", ["local:0", "lokal", "tcp:/x", "local:two"])
def test_bad_scheduler_is_a_usage_error(spec, tmp_path, capsys):
    assert sweep.main([*FLAGS, "--scheduler", spec, "--out", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --scheduler") and ("local:N" in err or "at least 1" in err)


def test_resume_hint_names_the_scheduler():
    p = sweep.Plan(Path("runs/x"), fd.Grid({"depth": [1]}), 16, False, None, "local:2")
    assert sweep._resume_hint(p).endswith("--resume runs/x --scheduler local:2")

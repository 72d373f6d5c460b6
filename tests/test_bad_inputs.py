"""Every bad input of issue #15 (items 4, 5, 8): one ``error:`` line and exit code 2 on the
command lines (sweep and report), the right exception from Python, nothing on disk."""

from __future__ import annotations

import errno
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fastdepth as fd
from fastdepth import report, sweep
from fastdepth import store as st
from fastdepth._cli_interrupt import is_command_line
from fastdepth.config import grid as grid_mod
from fastdepth.runner import inputs

TINY = ["--widths", "4", "--epochs", "5", "--n-train", "32", "--n-test", "32",
        "--eval-every", "5", "--threads", "1", "--depths", "1", "--datasets", "xor"]  # fmt: skip


def snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))}


def one_error_line(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def good_store(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("good") / "s"
    assert sweep.main([*TINY, "--seeds", "2", "--quiet", "--out", str(out)]) == 0
    return out


def _toml(tmp: Path, text: str | bytes) -> str:
    p = tmp / "grid.toml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(p)


# (id, argv builder(tmp) -> argv, expected text in the message)
SWEEP_CASES = [
    ("out-is-a-file", lambda t: ["--out", str(_file(t))], "is a file, not a directory"),
    ("out-dev-null", lambda t: ["--out", "/dev/null"], "is a file, not a directory"),
    ("out-under-a-file", lambda t: ["--out", str(_file(t) / "sub")], "nothing can be created"),
    ("out-in-proc", lambda t: ["--out", "/proc/fastdepth-x"], "/proc"),
    ("out-300-chars", lambda t: ["--out", str(t / ("a" * 300))], "choose a shorter name"),
    ("seeds-20-digits", lambda t: ["--seeds", "99999999999999999999"],
     "more than the 1,000,000"),
    ("eval-every-1e21", lambda t: ["--config", _toml(t, "[base]\neval_every = 1e21\n")],
     "eval_every must be below 2**63"),
    ("binary-toml", lambda t: ["--config", _toml(t, b"\x00\xff\xfe\x89PNG\r\n")],
     "is not valid TOML"),
    ("nested-toml", lambda t: ["--config", _toml(t, "a = " + "[" * 5000 + "]" * 5000)],
     "--config"),
    ("zip-nested", lambda t: ["--config", _toml(t, "zip = [[['depth']]]\n")],
     "a zip group lists axis names"),
    ("n-train-1e12", lambda t: ["--n-train", "1000000000000"], "GiB"),
    ("noise-1e308", lambda t: ["--noise", "1e308"], "noise must be finite and at most"),
    ("scheduler-refused", lambda t: ["--scheduler", "tcp://127.0.0.1:1"],
     "cannot reach a Dask scheduler at tcp://127.0.0.1:1"),
    ("lock-is-a-directory", lambda t: ["--out", str(_lock_dir(t))], "sweep.lock"),
    ("duplicate-seeds", lambda t: ["--seeds", "1,1"], "grid axis 'seed' lists 1 twice"),
    ("duplicate-depths", lambda t: ["--depths", "2,2"], "grid axis 'depth' lists 2 twice"),
]  # fmt: skip


def _file(t: Path) -> Path:
    (t / "f").write_text("mine")
    return t / "f"


def _lock_dir(t: Path) -> Path:
    (t / "locked" / st.LOCK).mkdir(parents=True)
    return t / "locked"


@pytest.mark.parametrize("case", SWEEP_CASES, ids=[c[0] for c in SWEEP_CASES])
def test_sweep_cli_bad_input(case, tmp_path, capsys, monkeypatch):
    name, build, message = case
    monkeypatch.chdir(tmp_path)  # a default --out would land here: it must not appear
    argv = build(tmp_path)
    before = snapshot(tmp_path)
    drop = {"eval-every-1e21": "--eval-every", "duplicate-depths": "--depths",
            "n-train-1e12": "--n-train"}.get(name)  # fmt: skip
    pairs = list(zip(TINY[::2], TINY[1::2], strict=True))
    base = [x for flag, v in pairs if flag != drop for x in (flag, v)]
    extra = [] if "--out" in argv else ["--out", str(tmp_path / "never")]
    t0 = time.monotonic()
    assert sweep.main([*base, *argv, *extra]) == 2
    err = one_error_line(capsys.readouterr().err)
    assert message in err, err
    assert snapshot(tmp_path) == before  # nothing was created
    if name == "scheduler-refused":
        assert time.monotonic() - t0 < 25  # refused up front, not after Dask's 30 s retries


MANIFESTS = {
    "truncated": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "not-an-object": lambda text: "[1, 2, 3]\n",
    "no-grid": lambda text: json.dumps({k: v for k, v in json.loads(text).items()
                                        if k != "grid"}),
    "chunk-size-0": lambda text: json.dumps({**json.loads(text), "chunk_size": 0}),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(MANIFESTS))
@pytest.mark.parametrize("cli", ["sweep", "report"])
def test_broken_manifest(kind, cli, good_store, tmp_path, capsys):
    store = tmp_path / "s"
    shutil.copytree(good_store, store)
    m = store / st.MANIFEST
    m.write_text(MANIFESTS[kind](m.read_text()))
    before = snapshot(tmp_path)
    if cli == "sweep":
        assert sweep.main(["--resume", str(store), "--quiet"]) == 2
    else:
        assert report.main([str(store), "--quiet"]) == 2
    err = one_error_line(capsys.readouterr().err)
    assert "manifest" in err or "store" in err, err
    assert snapshot(tmp_path) == before


def test_read_only_store(good_store, tmp_path, capsys, monkeypatch):
    """A store the user may not write (as root, chmod does not stop writes: the lock's
    PermissionError is injected where a read-only file system raises it)."""
    store = tmp_path / "s"
    shutil.copytree(good_store, store)

    def denied(self):
        raise PermissionError(errno.EACCES, "Permission denied", str(store / st.LOCK))

    monkeypatch.setattr(st.StoreLock, "acquire", denied)
    before = snapshot(tmp_path)
    assert sweep.main(["--resume", str(store)]) == 2
    err = one_error_line(capsys.readouterr().err)
    assert "Permission denied" in err and st.LOCK in err
    assert snapshot(tmp_path) == before


def test_full_disk_keeps_the_store_and_says_how_to_resume(tmp_path, capsys, monkeypatch):
    out = tmp_path / "full"

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path / "runs"))

    monkeypatch.setattr(st.Store, "write_parts", full)
    assert sweep.main([*TINY, "--seeds", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "No space left on device" in err
    assert f"--resume {out}" in err
    monkeypatch.undo()
    assert st.Store(out).done_chunks() == [] and not (out / st.LOCK).exists()
    assert sweep.main(["--resume", str(out), "--quiet"]) == 0  # the data is intact
    assert len(fd.load(out)) == 2


def test_report_out_under_a_file(good_store, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert report.main([str(good_store), "--out", str(tmp_path / "f" / "r"), "--quiet"]) == 2
    one_error_line(capsys.readouterr().err)


def test_cli_errors_in_a_subprocess_have_no_traceback(tmp_path):
    for argv in (["--out", "/dev/null"], ["--seeds", "99999999999999999999"],
                 ["--noise", "1e308"]):  # fmt: skip
        r = subprocess.run([sys.executable, "-m", "fastdepth.sweep", *argv, "--dry-run"],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip
        assert r.returncode == 2 and r.stdout == ""
        one_error_line(r.stderr)
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- Python


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: fd.RunConfig(depth=1e308), "depth must be below 2"),
        (lambda: fd.RunConfig(width=4e15), "GiB"),
        (lambda: fd.RunConfig(n_train=1e12), "GiB"),
        (lambda: fd.RunConfig(eval_every=1e21), "eval_every must be below"),
        (lambda: fd.RunConfig(seed=10**20), "seed must be below"),
        (lambda: fd.RunConfig(noise=1e308), "noise must be finite"),
        (lambda: fd.Grid({"depth": [1]}, base=0), "base must be a RunConfig"),
        (lambda: fd.Grid(base=0), "base must be a RunConfig"),
        (lambda: fd.Grid([1, 2]), "axes must be a dict"),
        (lambda: fd.Grid({"depth": [1, 2]}, zip=[[["depth"]]]), "a zip group lists axis"),
        (lambda: fd.Grid({"seed": [1, 1]}), "lists 1 twice"),
        (lambda: fd.train_many([1, 2]), "train_many takes RunConfig"),
    ],
)
def test_python_bad_input_raises_config_error(make, match):
    with pytest.raises(fd.ConfigError, match=match):
        make()


def test_grid_from_toml_bad_files(tmp_path):
    for text in (b"\x00\xff", b"a = " + b"[" * 5000 + b"]" * 5000, b"zip = 'depth'"):
        p = tmp_path / "g.toml"
        p.write_bytes(text)
        with pytest.raises(fd.ConfigError):
            fd.Grid.from_toml(p)


def test_a_huge_grid_is_refused_before_any_run_is_built(monkeypatch, capsys, tmp_path):
    built = []
    orig = fd.RunConfig.__post_init__
    monkeypatch.setattr(fd.RunConfig, "__post_init__", lambda self: (built.append(1),
                                                                     orig(self)))  # fmt: skip
    axes = {"dataset": ["circle", "rings"], "depth": [1, 2, 4, 6, 8], "seed": range(3_000_000)}
    assert fd.Grid.count(axes) == 30_000_000
    with pytest.raises(fd.ConfigError, match=r"30,000,000 runs .* more than the 1,000,000"):
        fd.Grid(axes)
    for seeds in ("3000000", "0:199999"):  # 30 M and 2 M runs
        assert sweep.main(["--seeds", seeds, "--dry-run", "--out", str(tmp_path / "x")]) == 2
        err = one_error_line(capsys.readouterr().err)
        assert "runs (dataset[2] x depth[5] x seed[" in err and "split it" in err
    assert built == []  # refused from the axes' lengths: not one run was built
    assert fd.Grid.count(axes, zip=[("dataset", "depth")]) == 3_000_000 * 5
    assert grid_mod.MAX_RUNS == 1_000_000
    many = {"lr": [0.1 * (k + 1) for k in range(401)], "weight_decay": [0.0, *range(1, 250)],
            "seed": [0, 1]}  # fmt: skip
    with pytest.raises(
        fd.ConfigError,
        match=r"100,250 combinations of values besides the "
        r"seeds \(lr\[401\] x weight_decay\[250\] x seed\[2\]\), more than",
    ):
        fd.Grid(many)  # fmt: skip
    assert built == []


def test_a_large_grid_is_planned_from_its_settings(monkeypatch, capsys, tmp_path):
    """A 200 000-run dry run builds one run per setting (10), not one per run."""
    built = []
    orig = fd.RunConfig.__post_init__
    monkeypatch.setattr(fd.RunConfig, "__post_init__", lambda self: (built.append(1),
                                                                     orig(self)))  # fmt: skip
    out = tmp_path / "x"
    assert sweep.main(["--seeds", "20000", "--dry-run", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "200000 runs = dataset[2] x depth[5] x seed[20000]" in text
    assert "3125 of up to 64 runs" in text
    assert len(built) <= 12  # the 10 settings, a chunk-size check, the seed check
    assert not out.exists()


# ----------------------------------------------------------------------------- Dask, Ctrl-C


def test_scheduler_hosts():
    assert inputs.is_this_host("127.0.0.1") and inputs.is_this_host("localhost")
    assert not inputs.is_this_host("192.0.2.1")  # TEST-NET: a numeric lookup, no traffic
    assert inputs.host_port("tcp://10.1.2.3:8786") == ("10.1.2.3", 8786)
    assert inputs.host_port("head:8786") == ("head", 8786)


def test_remote_scheduler_warning(monkeypatch, capsys, tmp_path):
    pytest.importorskip("distributed")
    from fastdepth.runner import session

    monkeypatch.setattr(session, "check_reachable", lambda address: False)  # no traffic
    argv = [*TINY, "--scheduler", "tcp://192.0.2.1:8786", "--dry-run", "--out", str(tmp_path / "x")]
    assert sweep.main(argv) == 0
    err = capsys.readouterr().err
    assert "warning: the Dask scheduler tcp://192.0.2.1:8786 is not on this host" in err
    assert "tls://" in err


def test_local_cluster_listens_on_loopback_only():
    pytest.importorskip("distributed")
    from fastdepth import distributed as dist

    with dist.dask_client("local:1") as backend:
        cluster = backend.client.cluster
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert cluster.dashboard_link.startswith("http://127.0.0.1:")
        for sock in cluster.scheduler.http_server._sockets.values():
            assert sock.getsockname()[0] == "127.0.0.1"


def test_ctrl_c_during_import_prints_no_traceback(tmp_path):
    assert is_command_line(["python", "-m", "fastdepth.sweep", "--seeds", "5"])
    assert is_command_line(["python", "/venv/bin/fastdepth", "sweep"])
    assert not is_command_line(["python", "-c", "import fastdepth"])
    for delay in (0.3, 0.15, 0.6):  # importing NumPy, Numba and pandas takes longer
        err, code = interrupt_import(tmp_path, delay, twice=delay != 0.3)
        assert code in (130, -signal.SIGINT, 0), (code, err)
        assert "Traceback" not in err or before_fastdepth(err), err


def interrupt_import(cwd: Path, delay: float, twice: bool = False) -> tuple[str, int]:
    """SIGINT (twice: two, as ``timeout -s INT`` sends) ``delay`` s into a sweep's start."""
    proc = subprocess.Popen([sys.executable, "-m", "fastdepth.sweep", "--dry-run"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            cwd=cwd)  # fmt: skip
    time.sleep(delay)
    for _ in range(2 if twice else 1):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.002)
    _, err = proc.communicate(timeout=120)
    return err, proc.returncode


def before_fastdepth(err: str) -> bool:
    """A traceback of Python's own start (``site``, ``runpy`` looking for the package):
    no fastdepth code had run, so no fastdepth hook could catch it."""
    return "fastdepth/" not in err or "init_import_site" in err

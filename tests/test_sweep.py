"""``python -m fastdepth.sweep`` end to end: real subprocesses, SIGKILL / SIGINT and resume.

Grids are tiny; the kill tests use a few hundred ms of training per chunk so a chunk
boundary is easy to hit, and poll for the first commit marker (never fixed sleeps).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pandas as pd
import pytest

import fastdepth as fd
from fastdepth import store as st
from fastdepth import sweep
from tests._store_checks import assert_same_store

TINY = ["--widths", "4", "--epochs", "20", "--n-train", "64", "--n-test", "64",
        "--eval-every", "10", "--threads", "1"]  # fmt: skip
# 16 chunks of one run, ~0.2 s of training each: long enough to kill in the middle.
SLOW = ["--depths", "1,2", "--widths", "8", "--epochs", "20000", "--n-train", "256",
        "--n-test", "64", "--seeds", "4", "--log-every", "100", "--eval-every", "1000",
        "--chunk-size", "1", "--threads", "1"]  # fmt: skip
N_SLOW = 16
# Generous: a fresh Numba cache compiles the trainer first (~15-30 s on a loaded machine).
TIMEOUT = 300


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fastdepth.sweep", *args],
        capture_output=True, text=True, timeout=TIMEOUT, **kw,
    )  # fmt: skip


def start(out: Path, *args: str, log: Path) -> subprocess.Popen:
    with open(log, "w") as f:  # a file, not a pipe: a full pipe would block the sweep
        return subprocess.Popen(
            [sys.executable, "-m", "fastdepth.sweep", *args, "--out", str(out)],
            stdout=f, stderr=subprocess.STDOUT,
        )  # fmt: skip


def wait_for_markers(proc: subprocess.Popen, out: Path, n: int = 1) -> int:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        done = len(st.Store(out).done_chunks())
        if done >= n or proc.poll() is not None:
            return done
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"no commit marker in {out} after {TIMEOUT} s")


# ----------------------------------------------------------------------------- end to end


def test_cli_end_to_end(tmp_path):
    out = tmp_path / "study"
    r = cli(*TINY, "--depths", "1,2", "--seeds", "3", "--chunk-size", "5", "--out", str(out))
    assert r.returncode == 0, r.stderr
    # the summary: one row per dataset x depth, with CI columns
    assert "train acc" in r.stdout and "test acc" in r.stdout and "diverged" in r.stdout
    rows = [ln for ln in r.stdout.splitlines() if re.match(r"^(circle|rings)\s+[12]\s", ln)]
    assert len(rows) == 4 and all("±" in ln for ln in rows)
    assert f"store: {out}" in r.stdout and "wall time:" in r.stdout
    assert "12/12 runs" in r.stderr  # plain progress lines (stderr is not a terminal)
    for name in ("manifest.json", "summary.csv", "summary.md"):
        assert (out / name).is_file()
    for d in (*st.PART_DIRS, "done"):
        assert len(list((out / d).iterdir())) == 3, d
    runs = fd.load(out)
    assert len(runs) == 12 and (runs.status == "ok").all()
    assert json.loads((out / "manifest.json").read_text())["n_runs"] == 12

    # the same command again: nothing left to train
    again = cli(*TINY, "--depths", "1,2", "--seeds", "3", "--chunk-size", "5", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "0 runs trained" in again.stdout and "3/3 chunks done" in again.stderr


def test_quiet_output(tmp_path, capsys):
    out = tmp_path / "q"
    assert sweep.main([*TINY, "--depths", "1", "--seeds", "2", "--quiet", "--out", str(out)]) == 0
    cap = capsys.readouterr()
    assert cap.out == f"{out}\n" and cap.err == ""


def test_default_out_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert sweep.main([*TINY, "--depths", "1,2", "--seeds", "2", "--quiet"]) == 0
    path = capsys.readouterr().out.strip()
    assert re.fullmatch(r"runs/circle-rings-d1-2-s2-\d{8}-\d{6}", path), path
    assert len(fd.load(tmp_path / path)) == 8


def test_config_file_then_flags(tmp_path, capsys):
    toml = tmp_path / "study.toml"
    fd.Grid({"depth": [1, 2], "activation": ["tanh"], "dataset": ["xor"]},
            base={"width": 4, "epochs": 20, "n_train": 64, "n_test": 64, "seed": 7},
            ).to_toml(toml)  # fmt: skip
    out = tmp_path / "c"
    argv = ["--config", str(toml), "--depths", "2", "--threads", "1", "--quiet", "--out", str(out)]
    assert sweep.main(argv) == 0
    runs = fd.load(out)
    assert runs["dataset"].tolist() == ["xor"] and runs["depth"].tolist() == [2]
    assert runs["activation"].tolist() == ["tanh"] and runs["seed"].tolist() == [7]
    assert runs["epochs"].tolist() == [20] and runs["lr"].tolist() == [0.05]


def test_lr_axis_enters_the_summary(tmp_path, capsys):
    out = tmp_path / "lr"
    argv = [*TINY, "--datasets", "xor", "--depths", "1", "--lrs", "0.01,0.1", "--seeds", "2"]
    assert sweep.main([*argv, "--out", str(out)]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[:4] == ["dataset", "depth", "lr", "n"]
    assert pd.read_csv(out / "summary.csv")["lr"].tolist() == [0.01, 0.1]


def test_dry_run(tmp_path, capsys):
    out = tmp_path / "never"
    assert sweep.main(["--seeds", "50", "--dry-run", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "500 runs = dataset[2] x depth[5] x seed[50]" in text
    assert "memory:" in text and "GFLOP" in text and "chunks:" in text
    assert not out.exists()


def test_help_lists_defaults_and_an_example():
    r = cli("--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "(default: 10)" in text and "(default: 1,2,4,6,8)" in text
    assert "--resume" in text and "python -m fastdepth.sweep --seeds 50" in text


def test_report_hook(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"
    monkeypatch.setitem(sys.modules, "fastdepth.report", None)  # import fails
    monkeypatch.delattr(fd, "report", raising=False)
    args = [*TINY, "--depths", "1", "--seeds", "2", "--out", str(out), "--report"]
    assert sweep.main(args) == 0
    assert "fastdepth.report is not available" in capsys.readouterr().err
    seen = []
    fake = types.SimpleNamespace(main=lambda argv: seen.append(argv) or 0)
    monkeypatch.setitem(sys.modules, "fastdepth.report", fake)
    monkeypatch.setattr(fd, "report", fake, raising=False)
    assert sweep.main(args) == 0
    assert seen == [[str(out)]]


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "args, message",
    [
        (["--depths", "0"], "depth must be >= 1"),
        (["--depths", "1,x"], "argument --depths: '1,x' is not a comma-separated list"),
        (["--depths", "1,,2"], "empty value"),
        (["--datasets", "circel"], "did you mean 'circle'"),
        (["--activations", "rleu"], "did you mean 'relu'"),
        (["--inits", "kaiming_typo"], "unknown init"),
        (["--optimizers", "adamw"], "unknown optimizer"),
        (["--lrs", "fast"], "cannot parse learning rates"),
        (["--lrs", "0"], "lr must be a finite number > 0"),
        (["--lrs", "1:1e-3:0"], "log grid"),
        (["--seeds", "0"], "cannot parse seeds"),
        (["--seeds", "5:2"], "cannot parse seeds"),
        (["--epochs", "1.5"], "argument --epochs"),
        (["--epochs", "0"], "epochs must be >= 1"),
        (["--batch-size", "5000"], "batch_size must be in [1, n_train=1000]"),
        (["--loss", "mse"], "loss='mse' needs a regression dataset"),
        (["--dtype", "float16"], "unknown dtype"),
        (["--log-every", "0"], "log_every must be >= 1"),
        (["--threads", "0"], "argument --threads: expected an integer >= 1"),
        (["--threads", "4096"], "more than the"),
        (["--chunk-size", "-3"], "argument --chunk-size"),
        (["--config", "/no/such/study.toml"], "cannot read --config"),
        (["--resume", "/no/such/store"], "no fastdepth store there"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_validation_errors(args, message, tmp_path, capsys):
    out = tmp_path / "never"
    extra = [] if "--resume" in args else ["--out", str(out)]
    assert sweep.main([*args, *extra]) == 2
    cap = capsys.readouterr()
    assert cap.err.startswith("error: ") and cap.err.count("\n") == 1, cap.err
    assert message in cap.err
    assert not out.exists()  # refused before anything was created or trained


def test_validation_errors_of_files_and_stores(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[axes\ndepth = [1]\n")
    assert sweep.main(["--config", str(bad), "--dry-run"]) == 2
    assert "is not valid TOML" in capsys.readouterr().err
    other = tmp_path / "other.toml"
    other.write_text("[sweep]\nthreads = 2\n")
    assert sweep.main(["--config", str(other), "--dry-run"]) == 2
    assert "unknown top-level key 'sweep'" in capsys.readouterr().err
    (tmp_path / "notastore").mkdir()
    (tmp_path / "notastore" / "data.txt").write_text("mine")
    assert sweep.main([*TINY, "--out", str(tmp_path / "notastore")]) == 2
    assert "is not a fastdepth store" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "notastore").iterdir()) == ["data.txt"]
    out = tmp_path / "s"
    assert sweep.main([*TINY, "--depths", "1", "--seeds", "2", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    assert sweep.main([*TINY, "--depths", "1", "--seeds", "2", "--out", str(out),
                       "--chunk-size", "7"]) == 2  # fmt: skip
    assert "differs from the store's chunk size" in capsys.readouterr().err
    assert sweep.main(["--resume", str(out), "--out", str(tmp_path / "elsewhere")]) == 2
    assert "name different stores" in capsys.readouterr().err


def test_validation_error_exit_code_in_a_subprocess(tmp_path):
    r = cli("--depths", "-1", "--out", str(tmp_path / "never"))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    assert "depth must be >= 1" in r.stderr


# ----------------------------------------------------------------------------- kill & resume


def test_sigkill_mid_sweep_then_resume_equals_an_uninterrupted_sweep(tmp_path):
    killed, ref = tmp_path / "killed", tmp_path / "ref"
    proc = start(killed, *SLOW, log=tmp_path / "killed.log")
    done = wait_for_markers(proc, killed)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()
    assert 1 <= done < N_SLOW
    lock = json.loads((killed / st.LOCK).read_text())  # left behind by the dead sweep
    assert lock["pid"] == proc.pid
    partial = len(fd.load(killed))
    assert 1 <= partial < N_SLOW  # readers see whole committed chunks only

    threads = str(min(2, os.cpu_count() or 1))  # another thread count: the same bytes
    r = cli("--resume", str(killed), "--threads", threads)
    assert r.returncode == 0, r.stderr
    assert f"took over the stale lock of {killed} (pid {proc.pid}" in r.stderr
    assert "resuming" in r.stderr
    assert f"{N_SLOW - partial} runs trained" in r.stdout

    assert sweep.main([*SLOW, "--out", str(ref), "--quiet"]) == 0  # uninterrupted
    assert_same_store(killed, ref)
    assert len(fd.load(killed)) == N_SLOW


def test_ctrl_c_stops_at_a_chunk_boundary_with_a_resume_hint(tmp_path):
    out = tmp_path / "int"
    log = tmp_path / "int.log"
    proc = start(out, *SLOW, log=log)
    done = wait_for_markers(proc, out)
    assert done < N_SLOW, "the sweep finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=TIMEOUT) == 130, log.read_text()
    text = log.read_text()
    assert "stopping after the current chunk" in text
    assert f"python -m fastdepth.sweep --resume {out} --threads 1" in text
    assert not (out / st.LOCK).exists()  # released
    assert not list(out.rglob("*.tmp-*"))
    n = len(st.Store(out).done_chunks())
    assert done <= n < N_SLOW and len(fd.load(out)) == n  # the current chunk was finished
    # resuming in-process finishes the job
    assert sweep.main(["--resume", str(out), "--quiet"]) == 0
    assert len(fd.load(out)) == N_SLOW


def test_two_sweeps_on_one_store(tmp_path):
    out = tmp_path / "busy"
    proc = start(out, *SLOW, log=tmp_path / "busy.log")
    try:
        wait_for_markers(proc, out)
        proc.send_signal(signal.SIGSTOP)  # alive but frozen: it keeps the lock while we try
        if proc.poll() is not None:
            pytest.fail("the first sweep ended too early")
        r = cli(*SLOW, "--out", str(out))
        assert r.returncode == 2
        assert f"is in use by another sweep (pid {proc.pid}" in r.stderr
        assert f"kill {proc.pid}" in r.stderr and r.stderr.count("\n") == 1
    finally:
        proc.kill()
        proc.wait()
    assert (out / st.LOCK).exists()  # the killed owner's lock stays, to be taken over


def test_default_study_states_only_what_differs_from_runconfig():
    from fastdepth.config import DEFAULTS

    assert sweep.DEFAULT_STUDY and all(v != [DEFAULTS[k]] for k, v in sweep.DEFAULT_STUDY.items())
    grid = sweep.build_grid(sweep.make_parser().parse_args([]))
    assert len(grid) == 100 and {r.lr for r in grid} == {DEFAULTS["lr"]}
    assert {r.width for r in grid} == {DEFAULTS["width"]} and grid.axes[-1] == "seed"

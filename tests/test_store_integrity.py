"""The store survives kills, full disks and damage: creation is atomic, corruption is caught.

A kill is simulated exactly with :data:`fastdepth.store.files.fault_hook`: before each
file-system step of a sweep it copies the store directory, which is what a SIGKILL at that
instant leaves behind (a copy's lock then gets a dead owner, as after a real kill). A few
tests kill a real process as well (the hook sending SIGKILL; strace where installed).
Every grid is tiny (8 runs of width 4 in 3 chunks), so a sweep takes a fraction of a second
once the trainer is compiled.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import fastdepth as fd
from fastdepth import distributed, sweep
from fastdepth import store as st
from fastdepth.store import files
from tests._store_campaign import GRID, TINY, campaign, format_counts, target
from tests._store_checks import assert_same_store

KINDS = ("runs", "curves", "layers", "timing", "params")


def run_sweep(out: Path, *args: str) -> int:
    return sweep.main([*TINY, "--out", str(out), *GRID, *args])


def resume(out: Path) -> int:
    return sweep.main(["--resume", str(out), "--quiet"])


@pytest.fixture(scope="module")
def ref(tmp_path_factory) -> Path:
    """The uninterrupted sweep every other store must equal byte for byte."""
    out = tmp_path_factory.mktemp("ref") / "s"
    assert run_sweep(out) == 0
    return out


@pytest.fixture
def copy(ref, tmp_path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(ref, out)
    return out


@pytest.fixture(scope="module")
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def as_after_a_kill(snapshot: Path, dead_pid: int) -> None:
    """A copy taken mid-sweep, as a kill leaves it: the lock's owner is no longer alive."""
    lock = snapshot / st.LOCK
    if lock.is_file():
        owner = json.loads(lock.read_text() or "{}")
        if "pid" in owner:
            owner.update(pid=dead_pid, start_time=None)
            lock.write_text(json.dumps(owner))


def flip_bit(path: Path, bit: int) -> None:
    data = bytearray(path.read_bytes())
    data[bit // 8 % len(data)] ^= 1 << (bit % 8)
    path.write_bytes(bytes(data))


# ----------------------------------------------------------------------------- kills


@pytest.fixture
def no_fsync(monkeypatch):
    """fsync makes data survive a power cut, which no test here simulates; it only costs
    time (a third of a tiny sweep's). Every step is still announced to the hook."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


@pytest.mark.slow
def test_a_kill_at_every_step_of_a_sweep_resumes_to_identical_files(
    ref, tmp_path, monkeypatch, dead_pid, no_fsync
):
    out = tmp_path / "s"
    snaps: list[tuple[str, str, Path]] = []

    def snapshot(step: str, path: Path) -> None:
        if path == out or out in path.parents:
            snap = tmp_path / f"snap-{len(snaps):03d}"
            shutil.copytree(out, snap, symlinks=True)
            snaps.append((step, str(path.relative_to(out)), snap))

    monkeypatch.setattr(files, "fault_hook", snapshot)
    assert run_sweep(out) == 0
    monkeypatch.setattr(files, "fault_hook", None)
    steps = [s for s, _, _ in snaps]
    assert len(snaps) > 100 and {"open", "write", "fsync", "rename", "mkdir"} <= set(steps)
    # creation: the lock, then the manifest (the commit point), then the directories
    assert [f"{s} {p.split('.tmp-')[0]}" for s, p, _ in snaps[:8]] == [
        "open sweep.lock", "write sweep.lock", "fsync sweep.lock", "open manifest.json",
        "write manifest.json", "fsync manifest.json", "rename manifest.json", "fsync-dir .",
    ]  # fmt: skip
    # Replayed: every step up to chunk 0's commit (creation, the first session, every
    # step of a chunk), and the last ones (the summary); chunks 1 and 2 repeat chunk 0.
    first = next(i for i, (s, p, _) in enumerate(snaps) if s == "rename" and "chunk-" in p)
    replay = [*snaps[: first + 2], *snaps[-10:]]
    for i, (step, path, snap) in enumerate(replay):
        as_after_a_kill(snap, dead_pid)
        has_manifest = (snap / st.MANIFEST).is_file()
        assert has_manifest or st.Store(snap).is_empty_dir(), (step, path)
        # the same command again, or (every other store that has a manifest) --resume
        rc = resume(snap) if has_manifest and i % 2 else run_sweep(snap)
        assert rc == 0, (i, step, path)
        assert_same_store(ref, snap)


@pytest.mark.slow
def test_a_full_disk_at_any_step_of_creation_and_first_chunk_then_rerun(
    ref, tmp_path, monkeypatch, capsys
):
    # every step of creation and the first session (the first 20), then every third step
    # of chunk 0: each kind of step of each kind of file
    for n in [*range(20), *range(20, 52, 3)]:
        out = tmp_path / f"s{n}"
        seen = []

        def full_disk(step: str, path: Path, n=n, seen=seen) -> None:
            seen.append(step)
            if len(seen) == n + 1:
                raise OSError(errno.ENOSPC, "No space left on device (injected)", str(path))

        monkeypatch.setattr(files, "fault_hook", full_disk)
        # the CLI reports the full disk as one "error:" line, exit 2, not a traceback
        assert run_sweep(out) == 2, n
        err = capsys.readouterr().err
        assert "injected" in err and "Traceback" not in err, (n, err)
        monkeypatch.setattr(files, "fault_hook", None)
        assert not list(out.rglob("*.tmp-*")), n  # the failed write cleaned up after itself
        assert not (out / st.LOCK).exists(), n
        assert run_sweep(out) == 0, (n, seen[-1])
        assert_same_store(ref, out)


_KILL_AT = textwrap.dedent("""
    import os, signal, sys
    from fastdepth import sweep
    from fastdepth.store import files
    want, seen = sys.argv[1].split(":"), []
    def kill(step, path):
        seen.append(step)
        if step == want[0] and seen.count(step) == int(want[1]):
            os.kill(os.getpid(), signal.SIGKILL)
    files.fault_hook = kill
    sys.exit(sweep.main(sys.argv[2:]))
""")


@pytest.mark.parametrize("where", ["rename:1", "mkdir:3", "rename:9"])
def test_sigkill_of_a_real_process_then_the_same_command(ref, tmp_path, where):
    """rename 1 is the manifest's (the issue's strace reproduction), mkdir 3 the
    middle of the part directories, rename 9 a part of chunk 0."""
    out = tmp_path / "s"
    cmd = [sys.executable, "-c", _KILL_AT, where, *TINY, "--out", str(out), *GRID]
    assert subprocess.run(cmd, capture_output=True).returncode == -9
    assert run_sweep(out) == 0
    assert_same_store(ref, out)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_the_issue_reproduction_with_strace(ref, tmp_path):
    out = tmp_path / "s"
    cmd = ["strace", "-f", "-qq", "-o", os.devnull, "-e",
           "inject=rename:signal=SIGKILL:when=1", sys.executable, "-m", "fastdepth.sweep",
           *TINY, "--out", str(out), *GRID]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != -9 and p.returncode != 137:
        pytest.skip(f"strace cannot trace here (exit {p.returncode}: {p.stderr.strip()[:200]})")
    assert run_sweep(out) == 0
    assert_same_store(ref, out)


def test_the_skeleton_an_older_fastdepth_left_is_resumable(ref, tmp_path):
    """Directories made before the manifest (as fastdepth did) with no data are empty."""
    out = tmp_path / "s"
    for d in (*st.PART_DIRS, st.DONE):
        (out / d).mkdir(parents=True)
    (out / "manifest.json.tmp-4242").write_text("{")
    assert st.Store(out).is_empty_dir()
    (out / "runs" / "notes.txt").write_text("mine")
    assert not st.Store(out).is_empty_dir()  # a file that is not fastdepth's: refused
    (out / "runs" / "notes.txt").unlink()
    assert run_sweep(out) == 0
    assert_same_store(ref, out)


def test_rewriting_a_committed_chunk_uncommits_it_first(copy, monkeypatch):
    steps = []
    monkeypatch.setattr(files, "fault_hook", lambda s, p: steps.append((s, p.name)))
    store = st.Store(copy)
    parts = {t: store.part(t, 1).read_bytes() for t in st.PART_DIRS}
    store.write_parts(1, 3, 3, parts)
    assert steps[0] == ("unlink", "chunk-00001")  # no reader sees the old marker beside new parts
    assert steps[-2][0] == "rename" and steps[-2][1] == "chunk-00001"
    with pytest.raises(ValueError, match="not a chunk"):
        store.write_parts(1, 2, 3, parts)


def test_a_symlink_planted_at_the_temporary_name_is_not_followed(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    d = tmp_path / "store"
    d.mkdir()
    names = iter(["planted", "fresh"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(names))
    (d / f"f.txt.tmp-{os.getpid()}-planted").symlink_to(victim)
    files.atomic_write_text(d / "f.txt", "new")
    assert victim.read_text() == "precious"
    assert (d / "f.txt").read_text() == "new" and not (d / "f.txt").is_symlink()
    # a dangling link too (O_EXCL | O_NOFOLLOW: the open fails rather than creating its target)
    names = iter(["dangling", "other"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(names))
    (d / f"f.txt.tmp-{os.getpid()}-dangling").symlink_to(tmp_path / "created-by-link")
    files.atomic_write_text(d / "f.txt", "newer")
    assert not (tmp_path / "created-by-link").exists() and (d / "f.txt").read_text() == "newer"
    removed = st.Store(d).remove_tmp()  # the planted links go; what they point at stays
    assert len(removed) == 2 and victim.read_text() == "precious"


# ----------------------------------------------------------------------------- damage


def test_every_single_bit_flip_and_truncation_is_caught(ref, tmp_path):
    """A small campaign (`python -m tests._store_campaign` runs a larger one)."""
    out = tmp_path / "s"
    shutil.copytree(ref, out)
    result = campaign(out, flips=12, truncations=4, seed=1)
    text = format_counts(result)
    for how, by_kind in result.items():
        assert set(by_kind) == {*KINDS, "marker"}
        for kind, counts in by_kind.items():
            n = 12 if how == "flip" else 4
            for reader in ("store", "verify", "resume"):
                assert counts[f"{reader}:error"] == n, f"{how} {kind} {reader}\n{text}"
    assert_same_store(ref, out)  # restored


@pytest.mark.parametrize("kind", KINDS)
def test_a_flipped_part_is_refused_on_load_and_retrained_on_resume(ref, copy, kind, capsys):
    path = target(copy, kind, chunk=1)
    flip_bit(path, 8 * 40 + 3)
    with pytest.raises(st.StoreCorruptError, match=f"{kind}/part-00001.* is corrupt: its SHA-256"):
        if kind == "params":
            st.load_params(copy, fd.load(copy)["run_id"].iloc[4])
        else:
            {"runs": fd.load, "curves": fd.load_curves, "layers": st.load_layers,
             "timing": st.load_timing}[kind](copy)  # fmt: skip
    report = st.verify(copy)
    assert not report.sound and list(report.bad) == [1] and "chunk 1 (runs 3..6)" in str(report)
    capsys.readouterr()
    assert sweep.main(["--verify", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "DAMAGED" in out and f"{kind}/part-00001" in out
    # resume says on the console (even --quiet) which chunk it trains again and why
    assert resume(copy) == 0
    err = capsys.readouterr().err
    assert "warning: " in err and f"chunk 1 (runs 3..6): {kind}/part-00001" in err, err
    assert_same_store(ref, copy)
    assert st.verify(copy).complete
    assert sweep.main(["--verify", str(copy)]) == 0 and "complete" in capsys.readouterr().out


@pytest.mark.parametrize("kind", KINDS)
def test_a_truncated_part_is_refused_and_retrained(ref, copy, kind, capsys):
    path = target(copy, kind, chunk=2)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(st.StoreCorruptError, match="truncated"):
        if kind == "params":
            st.load_params(copy, fd.load(copy)["run_id"].iloc[7])
        else:
            {"runs": fd.load, "curves": fd.load_curves, "layers": st.load_layers,
             "timing": st.load_timing}[kind](copy)  # fmt: skip
    with pytest.warns(st.StoreCorruptWarning, match="truncated"):
        assert st.Store(copy).done_chunks() == [0, 1]
    capsys.readouterr()
    assert resume(copy) == 0
    assert "truncated" in capsys.readouterr().err
    assert_same_store(ref, copy)


def test_a_damaged_marker_is_refused_and_retrained(ref, copy, capsys):
    marker = st.Store(copy).marker(0)
    marker.write_text(marker.read_text().replace('"runs": [0, 3]', '"runs": [0, 4]'))
    with pytest.raises(st.StoreCorruptError, match="done/chunk-00000 .*own SHA-256"):
        fd.load(copy)
    assert resume(copy) == 0
    assert "done/chunk-00000" in capsys.readouterr().err
    assert_same_store(ref, copy)


def test_the_distributed_path_retrains_a_damaged_chunk_too(ref, copy):
    flip_bit(target(copy, "curves", 2), 8 * 30)
    with pytest.warns(st.StoreCorruptWarning, match="chunk 2"):
        report = distributed.run_sweep(st.Store(copy).grid(), copy, threads=1)
    assert report.trained_chunks == 1
    assert_same_store(ref, copy)


# ----------------------------------------------------------------------------- layout


def test_an_edited_chunk_size_is_refused(copy, capsys):
    (copy / "done" / "chunk-00002").unlink()  # a partial store
    m = json.loads((copy / st.MANIFEST).read_text())
    m["chunk_size"] = 5
    (copy / st.MANIFEST).write_text(json.dumps(m))
    capsys.readouterr()
    assert resume(copy) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "says chunk_size 5, which cuts 8 runs into 2 chunks, and n_chunks 3" in err
    assert "edited or damaged" in err and 'restore "chunk_size": 3 (' in err
    m["n_chunks"] = 2  # edited consistently: the markers still say how the chunks were cut
    (copy / st.MANIFEST).write_text(json.dumps(m))
    assert resume(copy) == 2
    err = capsys.readouterr().err
    assert "chunk 0 was committed with chunk_size 3 and n_runs 8" in err
    assert 'restore "chunk_size": 3' in err
    with pytest.raises(st.StoreCorruptError, match='restore "chunk_size": 3'):
        fd.load(copy)
    assert st.verify(copy).problems and "DAMAGED" in str(st.verify(copy))
    m["chunk_size"], m["n_chunks"] = 3, 3
    (copy / st.MANIFEST).write_text(json.dumps(m))
    assert resume(copy) == 0


def test_load_warns_that_a_store_is_incomplete(copy):
    (copy / "timing" / "part-00001.parquet").unlink()
    with pytest.warns(st.StoreIncompleteWarning) as w:
        runs = fd.load(copy)
    msg = str(w[0].message)
    assert len(runs) == 5 and "2 of 3 chunks (5 of 8 runs)" in msg
    assert "chunk 1: no timing/part-00001.parquet" in msg and "--resume" in msg
    (copy / st.LOCK).write_text("{}")
    with pytest.warns(st.StoreIncompleteWarning, match="may still be writing"):
        fd.load_curves(copy)


# ----------------------------------------------------------------------------- verify


def test_verify_reports_a_sound_store_and_what_is_wrong_with_others(ref, copy):
    report = st.verify(ref)
    assert report.complete and report.ok == [0, 1, 2] and not report.unhashed
    assert str(report).startswith(f"store {ref}: complete: 3 of 3 chunks verified (8 of 8 runs)")
    (copy / "done" / "chunk-00002").unlink()
    flip_bit(target(copy, "layers", 0), 8 * 50)
    (copy / "runs" / "part-00001.parquet.tmp-1-ab").write_bytes(b"half")
    report = st.verify(copy)
    assert report.ok == [1] and list(report.bad) == [0] and report.not_committed == [2]
    assert report.sound is False and len(report.tmp_files) == 1
    text = str(report)
    assert "chunk 0 (runs 0..3): layers/part-00000.parquet: its SHA-256" in text
    assert "not committed (no done marker): chunks 2" in text and "--resume" in text


def test_verify_deep_checks_contents_and_an_old_store_still_loads(ref, copy, capsys):
    """A store of an older fastdepth: markers without digests, parts without checksums."""
    for k in range(3):
        marker = st.Store(copy).marker(k)
        old = {key: v for key, v in json.loads(marker.read_text()).items()
               if key in ("chunk", "runs", "written")}  # fmt: skip
        marker.write_text(json.dumps(old) + "\n")
    for t in ("runs", "curves", "layers", "timing"):
        for part in (copy / t).iterdir():
            table = pq.read_table(part)
            pq.write_table(table, part, compression="zstd", row_group_size=1 << 17)
    m = json.loads((copy / st.MANIFEST).read_text())
    del m["integrity"]
    (copy / st.MANIFEST).write_text(json.dumps(m))
    assert len(fd.load(copy)) == 8
    report = st.verify(copy)
    assert report.complete and report.unhashed == [0, 1, 2] and "decoding only" in str(report)
    # a truncated part of such a store is still caught (by decoding it), never half-read
    part = copy / "curves" / "part-00001.parquet"
    part.write_bytes(part.read_bytes()[:-50])
    with pytest.raises(st.StoreCorruptError, match="curves/part-00001.parquet .*cannot be decoded"):
        fd.load_curves(copy)
    # a part swapped for another chunk's decodes, but deep verify sees foreign runs
    shutil.copy(copy / "curves" / "part-00000.parquet", part)
    assert "run ids are not the chunk's" in str(st.verify(copy))
    assert st.verify(copy, deep=False).sound  # without digests only decoding is checked
    part.unlink()
    assert resume(copy) == 0  # the new chunk gets a marker with digests
    assert "curves/part-00001.parquet" in capsys.readouterr().err  # said why it re-trains
    assert "sha256" in json.loads(st.Store(copy).marker(1).read_text())
    assert st.verify(copy).unhashed == [0, 2]
    # the values are the reference's (the old-style parts differ only in their checksums)
    assert fd.load(copy, timing=False).equals(fd.load(ref, timing=False))
    assert (copy / "curves" / "part-00001.parquet").read_bytes() == (
        ref / "curves" / "part-00001.parquet").read_bytes()  # fmt: skip


def test_verify_flag_refuses_a_missing_store_and_other_flags(tmp_path, copy, capsys):
    assert sweep.main(["--verify", str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert sweep.main(["--verify", str(copy), "--seeds", "3"]) == 2
    assert "--verify DIR takes no other flags" in capsys.readouterr().err

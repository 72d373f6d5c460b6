"""Fault-injection campaign on real sweep processes: kills, full disks, read-only stores.

Run as a script for the counts (``tests/test_fault_campaign.py`` runs the ``--quick``
subset and asserts on it)::

    python -m tests._fault_campaign            # every kill point, every check
    python -m tests._fault_campaign --quick    # a few of each

Each check runs ``python -m fastdepth.sweep`` on the small grid of the store campaign
(8 runs in 3 chunks) and compares the result with an uninterrupted sweep, byte for byte
(runs, curves, layers and params parts; :func:`tests._store_checks.assert_same_store`):

- ``kill``: strace SIGKILLs the sweep at its N-th ``rename`` / ``fsync`` / ``write``
  (``-e inject=SYSCALL:signal=SIGKILL:when=N``); the same command again (or ``--resume``)
  must give the uninterrupted store;
- ``enospc`` / ``eio``: the N-th ``write`` fails with ENOSPC, the N-th ``fsync`` with
  EIO: one ``error:`` line, exit 2, and the same command again completes the store;
- ``tmpfs-full``: a real full disk (a tmpfs of a few hundred KB, in a private mount
  namespace: root only): one ``error:`` line, the committed chunks verify sound, and a
  resume elsewhere completes them;
- ``read-only``: a partial store on a read-only mount: ``--resume`` and a new ``--out``
  are refused in one line, ``--verify`` and ``fastdepth.load`` still read it;
- ``symlink``: a symlink planted at every temporary name a sweep opens is not followed;
- ``chunk-size``: a partial store whose manifest's ``chunk_size`` was edited is refused;
- ``bad-input``: every command line of ``tests/test_bad_inputs.py`` in a real process:
  exit 2, one ``error:`` line, nothing created;
- ``ctrl-c``: SIGINT (twice) at many delays into a command's start: no traceback once
  fastdepth's code runs;
- ``dashboard``: a local Dask cluster listens on loopback only.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fastdepth import store as st
from fastdepth.store import files
from tests._store_campaign import GRID, TINY
from tests._store_checks import assert_same_store

SWEEP = [sys.executable, "-m", "fastdepth.sweep"]
KILLED = (-signal.SIGKILL, 128 + signal.SIGKILL)
CALLS = {"rename": "rename,renameat,renameat2", "fsync": "fsync,fdatasync", "write": "write"}


def sweep_cmd(out: Path) -> list[str]:
    return [*SWEEP, *TINY, "--out", str(out), *GRID]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)


def strace_available() -> bool:
    if shutil.which("strace") is None:
        return False
    return run(["strace", "-f", "-qq", "-o", os.devnull, "true"]).returncode == 0


def count_calls(tmp: Path) -> tuple[dict[str, int], dict[str, str]]:
    """How often the main sweep process calls each syscall family, uninterrupted, and
    which syscall of the family this Python uses (``rename`` or ``renameat2``, ...)."""
    log = tmp / "strace.log"
    every = ",".join(CALLS.values())
    out = tmp / "count"
    r = run(["strace", "-qq", "-o", str(log), "-e", f"trace={every}", *sweep_cmd(out)])
    assert r.returncode == 0, r.stderr
    shutil.rmtree(out)
    names = collections.Counter(m.group(1) for m in re.finditer(r"^(\w+)\(", log.read_text(), re.M))
    used = {fam: max(calls.split(","), key=lambda x: names[x]) for fam, calls in CALLS.items()}
    return {fam: names[call] for fam, call in used.items()}, used


def rerun(out: Path, i: int) -> subprocess.CompletedProcess:
    """The same command again, or (every other store that has a manifest) ``--resume``."""
    if i % 2 and (out / st.MANIFEST).is_file():
        return run([*SWEEP, "--resume", str(out), "--quiet"])
    return run(sweep_cmd(out))


def identical(ref: Path, out: Path) -> bool:
    try:
        assert_same_store(ref, out)
    except AssertionError:
        return False
    return True


def kills(ref: Path, tmp: Path, fam: str, call: str, points: list[int], c: collections.Counter):
    for i, n in enumerate(points):
        out = tmp / f"kill-{fam}-{n}"
        inj = ["strace", "-f", "-qq", "-o", os.devnull, "-e", f"trace={call}",
               "-e", f"inject={call}:signal=SIGKILL:when={n}"]  # fmt: skip
        r = run([*inj, *sweep_cmd(out)])
        if r.returncode not in KILLED:
            c[f"kill {fam}: not killed (rc {r.returncode})"] += 1
            continue
        c[f"kill {fam}: tried"] += 1
        r = rerun(out, i)
        ok = r.returncode == 0 and identical(ref, out)
        c[f"kill {fam}: resumed byte-identically"] += ok
        if not ok:
            print(f"  kill {fam} #{n}: rc {r.returncode} {r.stderr[-300:]}", file=sys.stderr)
        shutil.rmtree(out, ignore_errors=True)


def errors(ref: Path, tmp: Path, fam: str, call: str, err: str, points: list[int], c):
    for n in points:
        out = tmp / f"{err}-{fam}-{n}"
        inj = ["strace", "-f", "-qq", "-o", os.devnull, "-e", f"trace={call}",
               "-e", f"inject={call}:error={err}:when={n}"]  # fmt: skip
        r = run([*inj, *sweep_cmd(out)])
        key = f"{err.lower()} at {fam}"
        if r.returncode == 0:
            c[f"{key}: absorbed (sweep finished)"] += 1
        else:
            last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
            one = r.returncode == 2 and last.startswith("error: ") and "Traceback" not in r.stderr
            c[f"{key}: one-line error, exit 2"] += one
            c[f"{key}: other outcome"] += not one
            if not one:
                print(f"  {key} #{n}: rc {r.returncode} {r.stderr[-400:]}", file=sys.stderr)
        r = run(sweep_cmd(out))
        c[f"{key}: then complete and identical"] += r.returncode == 0 and identical(ref, out)
        c[f"{key}: tried"] += 1
        shutil.rmtree(out, ignore_errors=True)


_NS = """
set -u
mount -t tmpfs -o size={size} tmpfs {mnt} || exit 90
{body}
"""


def in_namespace(body: str, mnt: Path, size: str) -> subprocess.CompletedProcess:
    """``body`` (sh) with a private tmpfs at ``mnt``: gone when the namespace ends."""
    mnt.mkdir(parents=True, exist_ok=True)
    script = _NS.format(size=size, mnt=mnt, body=body)
    return run(["unshare", "-m", "--propagation", "private", "sh", "-c", script])


def namespaces_available(tmp: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    return in_namespace("true", tmp / "probe", "64k").returncode == 0


def tmpfs_full(ref: Path, tmp: Path, sizes: list[int], c: collections.Counter) -> None:
    q = " ".join
    for size in sizes:
        mnt, keep = tmp / f"mnt-{size}", tmp / f"full-{size}"
        body = f"""
{q(sweep_cmd(mnt / "s"))} >{tmp}/full.out 2>{tmp}/full.err; echo $? >{tmp}/full.rc
{q(SWEEP)} --verify {mnt}/s >{tmp}/verify.out 2>&1; echo $? >{tmp}/verify.rc
cp -a {mnt}/s {keep}
"""
        r = in_namespace(body, mnt, f"{size}k")
        if r.returncode != 0:
            c["tmpfs full: namespace failed"] += 1
            continue
        rc = int((tmp / "full.rc").read_text())
        err = (tmp / "full.err").read_text()
        lines = err.strip().splitlines()
        c["tmpfs full: tried"] += 1
        if rc == 0:
            c["tmpfs full: fitted (no error)"] += 1
        else:
            one = rc == 2 and lines[-1].startswith("error: ") and "Traceback" not in err
            one = one and "No space left on device" in lines[-1]
            c["tmpfs full: one-line 'No space left' error, exit 2"] += one
            if not one:
                print(f"  tmpfs {size}k: rc {rc} {err[-400:]}", file=sys.stderr)
        c["tmpfs full: committed chunks verify sound"] += int((tmp / "verify.rc").read_text()) == 0
        r2 = run([*SWEEP, "--resume", str(keep), "--quiet"])
        c["tmpfs full: resumed elsewhere, identical"] += r2.returncode == 0 and identical(ref, keep)
        shutil.rmtree(keep, ignore_errors=True)


def partial_store(tmp: Path, name: str) -> Path:
    """A store killed after its first chunk's commit, before its second's."""
    out = tmp / name
    code = (
        "import os, signal, sys\nfrom fastdepth import sweep\nfrom fastdepth.store import files\n"
        "seen = []\n"
        "def kill(step, path):\n"
        "    seen.append(step == 'rename' and path.parent.name == 'done')\n"
        "    if sum(seen) == 2:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "files.fault_hook = kill\nsys.exit(sweep.main(sys.argv[1:]))\n"
    )
    r = run([sys.executable, "-c", code, *TINY, "--out", str(out), *GRID])
    assert r.returncode in KILLED, r.stderr
    return out


def read_only(ref: Path, tmp: Path, c: collections.Counter) -> None:
    src = partial_store(tmp, "ro-src")
    mnt = tmp / "mnt-ro"
    q = " ".join
    body = f"""
cp -a {src} {mnt}/s && mount -o remount,ro {mnt} || exit 91
{q(SWEEP)} --resume {mnt}/s >/dev/null 2>{tmp}/ro1.err; echo $? >{tmp}/ro1.rc
{q(sweep_cmd(mnt / "new"))} >/dev/null 2>{tmp}/ro2.err; echo $? >{tmp}/ro2.rc
{q(SWEEP)} --verify {mnt}/s >/dev/null 2>&1; echo $? >{tmp}/ro3.rc
{sys.executable} -W ignore -c "import fastdepth as fd; print(len(fd.load('{mnt}/s')))" \
    >{tmp}/ro4.out 2>&1; echo $? >{tmp}/ro4.rc
"""
    r = in_namespace(body, mnt, "4m")
    if r.returncode != 0:
        c["read-only: namespace failed"] += 1
        return
    for k, what in ((1, "--resume of a read-only store"), (2, "a new --out on a read-only mount")):
        err = (tmp / f"ro{k}.err").read_text()
        rc = int((tmp / f"ro{k}.rc").read_text())
        one = rc == 2 and err.startswith("error: ") and err.count("\n") == 1
        c[f"read-only: {what}: one-line error, exit 2"] += one
        if not one:
            print(f"  read-only {what}: rc {rc} {err[-400:]}", file=sys.stderr)
    c["read-only: --verify reads it (exit 0)"] += int((tmp / "ro3.rc").read_text()) == 0
    c["read-only: fastdepth.load reads it"] += int((tmp / "ro4.rc").read_text()) == 0
    c["read-only: tried"] += 1


def symlinks(ref: Path, tmp: Path, c: collections.Counter) -> None:
    """In this process: a symlink to a victim at each temporary name, before its open."""
    from fastdepth import sweep

    out, victim = tmp / "sym", tmp / "victim.txt"
    victim.write_text("mine")

    planted: set[Path] = set()

    def plant(step: str, path: Path) -> None:
        # at the first temporary name of each file (the writer then tries another name)
        final = path.with_name(path.name.split(files.TMP_MARK)[0])
        if step == "open" and files.TMP_MARK in path.name and final not in planted:
            planted.add(final)
            path.symlink_to(victim)
            c["symlink: planted at a temporary name"] += 1

    files.fault_hook = plant
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            rc = sweep.main([*TINY, "--out", str(out), *GRID])
    finally:
        files.fault_hook = None
    for link in out.rglob(f"*{files.TMP_MARK}*"):
        link.unlink()  # the planted links themselves (the sweep never opened them)
    c["symlink: victim untouched"] += victim.read_text() == "mine"
    c["symlink: store identical"] += rc == 0 and identical(ref, out)


def chunk_size_edits(tmp: Path, c: collections.Counter, sizes=(1, 2, 4, 5, 8)) -> None:
    src = partial_store(tmp, "cs-src")
    for new in sizes:
        for consistent in (False, True):
            out = tmp / f"cs-{new}-{consistent}"
            shutil.copytree(src, out)
            m = json.loads((out / st.MANIFEST).read_text())
            m["chunk_size"] = new
            if consistent:
                m["n_chunks"] = -(-m["n_runs"] // new)
            (out / st.MANIFEST).write_text(json.dumps(m))
            before = sorted((p.name, p.stat().st_size) for p in out.rglob("*"))
            assert st.Store(src).done_chunks() == [0]
            r = run([*SWEEP, "--resume", str(out), "--quiet"])
            one = r.returncode == 2 and r.stderr.startswith("error: ")
            one = one and r.stderr.count("\n") == 1 and "chunk_size" in r.stderr
            c["chunk-size edit: refused in one line"] += one
            c["chunk-size edit: store unchanged"] += before == sorted(
                (p.name, p.stat().st_size) for p in out.rglob("*")
            )
            c["chunk-size edit: tried"] += 1
            if not one:
                print(f"  chunk_size {new}: rc {r.returncode} {r.stderr[-300:]}", file=sys.stderr)


def bad_inputs(tmp: Path, c: collections.Counter) -> None:
    from tests import test_bad_inputs as bi

    pairs = list(zip(bi.TINY[::2], bi.TINY[1::2], strict=True))
    for name, build, message in bi.SWEEP_CASES:
        case = tmp / f"bad-{name}"
        case.mkdir()
        argv = build(case)
        drop = {"eval-every-1e21": "--eval-every", "duplicate-depths": "--depths",
                "n-train-1e12": "--n-train"}.get(name)  # fmt: skip
        base = [x for flag, v in pairs if flag != drop for x in (flag, v)]
        extra = [] if "--out" in argv else ["--out", str(case / "never")]
        before = sorted(p.name for p in case.rglob("*"))
        t0 = time.monotonic()
        r = run([*SWEEP, *base, *argv, *extra], cwd=case)
        ok = r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
        ok = ok and message in r.stderr and before == sorted(p.name for p in case.rglob("*"))
        c["bad input (sweep CLI): one-line error, exit 2, nothing created"] += ok
        c["bad input (sweep CLI): tried"] += 1
        if not ok:
            print(f"  bad input {name}: rc {r.returncode} {r.stderr[-300:]}", file=sys.stderr)
        if name == "scheduler-refused":
            c[
                f"bad input: --scheduler tcp://127.0.0.1:1 refused in {time.monotonic() - t0:.1f} s"
            ] += 1
    ref = tmp / "bad-ref"
    assert run(sweep_cmd(ref)).returncode == 0
    for kind, edit in bi.MANIFESTS.items():
        for cli in ("sweep", "report"):
            out = tmp / f"man-{kind}-{cli}"
            shutil.copytree(ref, out)
            m = out / st.MANIFEST
            m.write_text(edit(m.read_text()))
            cmd = [*SWEEP, "--resume", str(out), "--quiet"] if cli == "sweep" else [
                sys.executable, "-m", "fastdepth.report", str(out), "--quiet"]  # fmt: skip
            r = run(cmd)
            ok = r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
            c[f"bad manifest ({cli} CLI): one-line error, exit 2"] += ok
            c[f"bad manifest ({cli} CLI): tried"] += 1
            if not ok:
                print(
                    f"  manifest {kind} {cli}: rc {r.returncode} {r.stderr[-300:]}", file=sys.stderr
                )


def ctrl_c(tmp: Path, delays: list[float], c: collections.Counter) -> None:
    from tests.test_bad_inputs import before_fastdepth, interrupt_import

    for d in delays:
        err, code = interrupt_import(tmp, d, twice=True)
        if "Traceback" not in err and "Exception ignored" not in err:
            c["ctrl-c: clean (no traceback)"] += 1
        elif before_fastdepth(err):
            c["ctrl-c: traceback before fastdepth's code ran (Python's start-up)"] += 1
        else:
            c["ctrl-c: traceback from fastdepth's import"] += 1
            print(f"  ctrl-c at {d:.3f} s: {err[-600:]}", file=sys.stderr)
        c["ctrl-c: tried"] += 1


def dashboard(c: collections.Counter) -> None:
    try:
        from fastdepth import distributed as dist

        dist._import_dask()
    except Exception:
        c["dashboard: Dask not installed (skipped)"] += 1
        return
    with dist.dask_client("local:1") as backend:
        cluster = backend.client.cluster
        ok = cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        ok = ok and cluster.dashboard_link.startswith("http://127.0.0.1:")
        socks = cluster.scheduler.http_server._sockets.values()
        ok = ok and all(s.getsockname()[0] == "127.0.0.1" for s in socks)
    c["dashboard: scheduler and dashboard on 127.0.0.1 only"] += ok
    r = run([*SWEEP, "--dask-dashboard", ":8787", "--dry-run"])
    c["dashboard: --dask-dashboard without local scheduler refused"] += r.returncode == 2


def spread(k: int, n: int) -> list[int]:
    """``n`` points of ``1..k``, evenly spread, the first and the last included."""
    if k <= n:
        return list(range(1, k + 1))
    if n == 1:
        return [(k + 1) // 2]
    return sorted({1 + round(i * (k - 1) / (n - 1)) for i in range(n)})


def campaign(tmp: Path, quick: bool) -> collections.Counter:
    c: collections.Counter = collections.Counter()
    ref = tmp / "ref"
    assert run(sweep_cmd(ref)).returncode == 0  # also fills Numba's cache
    if strace_available():
        k, used = count_calls(tmp)
        c.update({f"calls of an uninterrupted sweep: {used[f]}": n for f, n in k.items()})
        for fam in CALLS:
            call = used[fam]
            every = {"rename": k[fam], "fsync": k[fam], "write": 16}[fam]
            points = spread(k[fam], 3 if quick else every)
            kills(ref, tmp, fam, call, points, c)
        write, fsync = used["write"], used["fsync"]
        errors(ref, tmp, "write", write, "ENOSPC", spread(k["write"], 2 if quick else 12), c)
        errors(ref, tmp, "fsync", fsync, "EIO", spread(k["fsync"], 1 if quick else 6), c)
    else:
        c["strace unavailable: kills skipped"] += 1
    if namespaces_available(tmp):
        size = sum(p.stat().st_size for p in ref.rglob("*") if p.is_file()) // 1024
        tmpfs_full(ref, tmp, [max(8, size * f // 8) for f in ((3,) if quick else (1, 2, 4, 6))], c)
        read_only(ref, tmp, c)
    else:
        c["mount namespaces unavailable: tmpfs and read-only skipped"] += 1
    symlinks(ref, tmp, c)
    chunk_size_edits(tmp, c)
    if not quick:
        bad_inputs(tmp, c)
        ctrl_c(tmp, [0.03 + 0.01 * i for i in range(60)], c)
        dashboard(c)
    return c


def format_counts(c: collections.Counter) -> str:
    return "\n".join(f"{n:5d}  {k}" for k, n in sorted(c.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few points of each kind")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="fastdepth-faults-"))
    try:
        t0 = time.monotonic()
        counts = campaign(tmp, args.quick)
        print(format_counts(counts))
        print(f"({time.monotonic() - t0:.0f} s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

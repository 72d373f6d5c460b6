"""A fast subset of the fault-injection campaign (``python -m tests._fault_campaign`` runs
all of it): real sweep processes killed by strace at a rename, an fsync and a write, a
write failing with ENOSPC, a real full disk and a read-only mount (in a private mount
namespace, where allowed), planted symlinks, an edited chunk size."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from tests import _fault_campaign as fc


@pytest.fixture(scope="module")
def ref(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "s"
    r = fc.run(fc.sweep_cmd(out))
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    if not fc.strace_available():
        pytest.skip("strace is not installed or cannot trace here")
    return fc.count_calls(tmp_path_factory.mktemp("count"))


def test_kills_at_a_rename_an_fsync_and_a_write_resume_identically(ref, calls, tmp_path):
    k, used = calls
    assert k["rename"] > 10 and k["fsync"] > 10 and k["write"] > 5, k
    c: collections.Counter = collections.Counter()
    fc.kills(ref, tmp_path, "rename", used["rename"], [1, k["rename"] // 2], c)
    fc.kills(ref, tmp_path, "fsync", used["fsync"], [k["fsync"] // 3], c)
    fc.kills(ref, tmp_path, "write", used["write"], [k["write"] // 2], c)
    assert c["kill rename: tried"] == 2 and c["kill fsync: tried"] == c["kill write: tried"] == 1
    for fam in ("rename", "fsync", "write"):
        assert c[f"kill {fam}: resumed byte-identically"] == c[f"kill {fam}: tried"], c


def test_an_enospc_write_is_one_error_line_then_the_store_completes(ref, calls, tmp_path):
    k, used = calls
    c: collections.Counter = collections.Counter()
    fc.errors(ref, tmp_path, "write", used["write"], "ENOSPC", [k["write"] // 2], c)
    assert c["enospc at write: tried"] == 1 and c["enospc at write: other outcome"] == 0, c
    assert c["enospc at write: then complete and identical"] == 1, c


def test_a_real_full_disk_and_a_read_only_mount(ref, tmp_path):
    if not fc.namespaces_available(tmp_path):
        pytest.skip("no private mount namespace here (needs root / CAP_SYS_ADMIN)")
    c: collections.Counter = collections.Counter()
    size = sum(p.stat().st_size for p in ref.rglob("*") if p.is_file()) // 1024
    fc.tmpfs_full(ref, tmp_path, [max(8, size // 2)], c)
    assert c["tmpfs full: tried"] == 1, c
    assert c["tmpfs full: one-line 'No space left' error, exit 2"] == 1, c
    assert c["tmpfs full: committed chunks verify sound"] == 1, c
    assert c["tmpfs full: resumed elsewhere, identical"] == 1, c
    fc.read_only(ref, tmp_path, c)
    assert c["read-only: tried"] == 1
    for what in ("--resume of a read-only store", "a new --out on a read-only mount"):
        assert c[f"read-only: {what}: one-line error, exit 2"] == 1, c
    assert (
        c["read-only: --verify reads it (exit 0)"] == c["read-only: fastdepth.load reads it"] == 1
    )


def test_symlinks_at_temporary_names_and_edited_chunk_sizes(ref, tmp_path):
    c: collections.Counter = collections.Counter()
    fc.symlinks(ref, tmp_path, c)
    assert c["symlink: planted at a temporary name"] > 10, c
    assert c["symlink: victim untouched"] == c["symlink: store identical"] == 1, c
    fc.chunk_size_edits(tmp_path, c, sizes=(2, 5))
    assert c["chunk-size edit: tried"] == 4
    assert c["chunk-size edit: refused in one line"] == c["chunk-size edit: store unchanged"] == 4

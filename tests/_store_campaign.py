"""Damage campaign on a store: single-bit flips and truncations, and what catches them.

Run as a script for the counts (the test file runs a small campaign and asserts on it)::

    python -m tests._store_campaign --flips 100 --truncations 20 --seed 0

It sweeps a small grid into a temporary store, then damages one part file at a time
(restoring it after each try) and reads it back four ways:

- ``store``: fastdepth's readers (``fd.load`` & co.): must raise ``StoreCorruptError``;
- ``plain``: the file read as the readers did before part digests existed (pyarrow with no
  page-checksum verification; ``np.load``): how often damage gives other numbers silently;
- ``crc``: pyarrow with page checksums verified (``np.load`` for ``.npz``: zip CRC);
- ``verify`` / ``resume``: ``fastdepth.store.verify`` flags it; ``Store.done_chunks()``
  drops the chunk (so a resumed sweep trains it again).

Each try is ``error`` (damage reported), ``changed`` (other numbers, no error) or ``same``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

import fastdepth as fd
from fastdepth import store as st
from fastdepth import sweep

KINDS = ("runs", "curves", "layers", "timing", "params", "marker")
TINY = ["--widths", "4", "--epochs", "20", "--n-train", "64", "--n-test", "64",
        "--eval-every", "10", "--threads", "1", "--quiet"]  # fmt: skip
GRID = ["--depths", "1,2", "--seeds", "2", "--chunk-size", "3"]  # 8 runs in 3 chunks


def make_store(out: Path) -> Path:
    """The campaign's store (the same grid as the integrity tests)."""
    with contextlib.redirect_stdout(io.StringIO()):  # --quiet still prints the path
        assert sweep.main([*TINY, "--out", str(out), *GRID]) == 0
    return out


def target(store_dir: Path, kind: str, chunk: int = 0) -> Path:
    """The file of ``kind`` (a part table, or ``"marker"``) of ``chunk``."""
    s = st.Store(store_dir)
    return s.marker(chunk) if kind == "marker" else s.part(kind, chunk)


def _store_read(store_dir: Path, kind: str) -> object:
    if kind in ("runs", "marker"):
        return fd.load(store_dir, timing=False)
    if kind == "curves":
        return fd.load_curves(store_dir)
    if kind == "layers":
        return st.load_layers(store_dir)
    if kind == "timing":
        return st.load_timing(store_dir)
    ids = fd.load(store_dir, columns=["run_id"], timing=False)["run_id"]
    return [st.load_params(store_dir, r) for r in ids]


def _plain_read(path: Path, kind: str, crc: bool) -> object:
    if kind == "params":
        with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    return pq.read_table(path, page_checksum_verification=crc).to_pandas()


def _same(a: object, b: object) -> bool:
    if isinstance(a, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        except AssertionError:
            return False
        return True
    if isinstance(a, dict):  # a plain read of an .npz
        if a.keys() != b.keys():
            return False
        a, b = [a[k] for k in sorted(a)], [b[k] for k in sorted(a)]
    else:  # load_params of every run: [[(W, b), ...], ...]
        a = [x for run in a for pair in run for x in pair]
        b = [x for run in b for pair in run for x in pair]
    return len(a) == len(b) and all(
        x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
        for x, y in zip(a, b, strict=True)
    )


def _outcome(read: Callable[[], object], want: object, error: type[Exception]) -> str:
    """``error`` if ``read`` raises ``error``; another exception is named (a defect)."""
    try:
        got = read()
    except error:
        return "error"
    except Exception as e:
        return f"raised-{type(e).__name__}"
    try:
        return "same" if _same(got, want) else "changed"
    except Exception:  # e.g. a string that is no longer UTF-8: it fails when it is used
        return "error"


def _try(store_dir: Path, kind: str, path: Path, want: dict) -> dict[str, str]:
    out = {"store": _outcome(lambda: _store_read(store_dir, kind), want["store"],
                             st.StoreCorruptError)}  # fmt: skip
    if kind != "marker":
        out["plain"] = _outcome(lambda: _plain_read(path, kind, False), want["plain"], Exception)
        out["crc"] = _outcome(lambda: _plain_read(path, kind, True), want["plain"], Exception)
    out["verify"] = "error" if not st.verify(store_dir).sound else "same"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", st.StoreCorruptWarning)
        out["resume"] = "error" if 0 not in st.Store(store_dir).done_chunks() else "same"
    return out


def campaign(
    store_dir: Path, flips: int, truncations: int, seed: int = 0, kinds=KINDS
) -> dict[str, dict[str, collections.Counter]]:
    """Damage chunk 0's file of each kind, one bit or one truncation at a time.

    Returns
    -------
    dict
        ``{"flip": {kind: Counter({"store:error": n, "plain:changed": m, ...})},
        "truncate": {...}}``; the store is left as it was.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, collections.Counter]] = {"flip": {}, "truncate": {}}
    for kind in kinds:
        path = target(store_dir, kind)
        original = path.read_bytes()
        want = {"store": _store_read(store_dir, kind)}
        if kind != "marker":
            want["plain"] = _plain_read(path, kind, False)
        damaged = []
        for bit in rng.choice(len(original) * 8, size=min(flips, len(original) * 8),
                              replace=False):  # fmt: skip
            data = bytearray(original)
            data[bit // 8] ^= 1 << (bit % 8)
            damaged.append(("flip", bytes(data)))
        for n in rng.choice(len(original), size=min(truncations, len(original)), replace=False):
            damaged.append(("truncate", original[:n]))
        try:
            for how, data in damaged:
                path.write_bytes(data)
                counts = out[how].setdefault(kind, collections.Counter())
                counts.update(f"{k}:{v}" for k, v in _try(store_dir, kind, path, want).items())
        finally:
            path.write_bytes(original)
    return out


def format_counts(result: dict[str, dict[str, collections.Counter]]) -> str:
    """One line per damage and kind: how many tries each reader caught."""
    lines = []
    for how, by_kind in result.items():
        for kind, c in by_kind.items():
            n = sum(v for k, v in c.items() if k.startswith("store:"))
            cols = []
            for reader in ("store", "plain", "crc", "verify", "resume"):
                got = {k.split(":", 1)[1]: v for k, v in c.items() if k.startswith(reader + ":")}
                if got:
                    cols.append(f"{reader} " + " ".join(f"{k}={v}" for k, v in sorted(got.items())))
            lines.append(f"{how:8s} {kind:7s} n={n:4d}  " + "  |  ".join(cols))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flips", type=int, default=100, help="bit flips per kind of file")
    ap.add_argument("--truncations", type=int, default=20, help="truncations per kind")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="fastdepth-campaign-"))
    try:
        store_dir = make_store(tmp / "s")
        print(format_counts(campaign(store_dir, args.flips, args.truncations, args.seed)))
    finally:
        shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

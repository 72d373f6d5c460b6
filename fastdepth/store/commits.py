"""Which chunks of a store are committed, and whether their files are what was committed.

:func:`scan` reads every done marker and checks it against the manifest (a cheap pass:
no part is read); :func:`part_problem` checks one part against its marker (size and
SHA-256, or decoding for a marker without digests); :func:`read_part` returns a part's
bytes only if they are the committed ones.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import StoreCorruptError
from .integrity import (
    INTEGRITY,
    Marker,
    MarkerError,
    PartDigest,
    decode_error,
    digest,
    file_digest,
    parse_marker,
)
from .schema import DONE, MANIFEST, PART_DIRS, chunk_bounds

if TYPE_CHECKING:
    from .directory import Store

__all__ = [
    "ChunkScan",
    "corrupt_error",
    "digest_problem",
    "few",
    "part_problem",
    "read_checked",
    "read_part",
    "scan",
]


@dataclass
class ChunkScan:
    """The state of every chunk of a store, from its markers and the presence of its parts.

    Attributes
    ----------
    bounds : list of (int, int)
        ``(start, stop)`` of every chunk, from the manifest.
    committed : dict
        Chunk -> :class:`~fastdepth.store.integrity.Marker`: a sound marker and every part
        file present (their content is not read here).
    unmarked : list of int
        Chunks without a marker: not trained yet, or interrupted.
    missing : dict
        Chunk -> reason: a marker, but a part file is gone (deleted by hand).
    damaged : dict
        Chunk -> why its marker cannot be trusted.
    """

    bounds: list[tuple[int, int]]
    committed: dict[int, Marker] = field(default_factory=dict)
    unmarked: list[int] = field(default_factory=list)
    missing: dict[int, str] = field(default_factory=dict)
    damaged: dict[int, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every chunk committed."""
        return len(self.committed) == len(self.bounds)


def few(chunks: Sequence[int], limit: int = 6) -> str:
    """``"1, 2, 3"``, or ``"1, 2, ..., (40 in all)"`` past ``limit`` chunks."""
    head = ", ".join(map(str, chunks[:limit]))
    return head + (f", ... ({len(chunks)} in all)" if len(chunks) > limit else "")


def _rel(store: Store, path: os.PathLike) -> str:
    return os.path.relpath(path, store.path)


def _layout_error(store: Store, what: str, restore: str) -> StoreCorruptError:
    return StoreCorruptError(
        f"store {store.path}: {what}, so {MANIFEST} was edited or damaged. A store's chunking "
        f"is fixed when it is created: {restore} (to cut the grid differently, sweep into a "
        "new --out directory)"
    )


def _read_markers(store: Store, require: bool) -> dict[int, Marker | MarkerError]:
    out: dict[int, Marker | MarkerError] = {}
    with contextlib.suppress(FileNotFoundError):
        for p in (store.path / DONE).iterdir():
            name = p.name
            if name.startswith("chunk-") and name[6:].isdigit() and p.is_file():
                k = int(name[6:])
                try:
                    out[k] = parse_marker(p.read_bytes(), k, require)
                except MarkerError as e:
                    out[k] = e
    return dict(sorted(out.items()))


def scan(store: Store) -> ChunkScan:
    """Read every marker of ``store`` and sort its chunks (see :class:`ChunkScan`).

    Raises
    ------
    StoreCorruptError
        The manifest's chunking contradicts itself or the committed chunks (an edited
        ``chunk_size``): every chunk would be read or re-trained with the wrong runs.
    """
    if not store.exists():  # not a store (yet): nothing is committed
        return ChunkScan([])
    manifest = store.manifest()
    try:
        n, cs = int(manifest["n_runs"]), int(manifest["chunk_size"])
        bounds = chunk_bounds(n, cs)
    except (KeyError, TypeError, ValueError) as e:
        raise StoreCorruptError(f"store {store.path}: {MANIFEST} has no valid n_runs and "
                                f"chunk_size ({e})") from None  # fmt: skip
    markers = _read_markers(store, manifest.get("integrity") == INTEGRITY)
    # A sound marker records the chunking it was committed under: the one to restore.
    other = next(
        (
            (k, m)
            for k, m in markers.items()
            if isinstance(m, Marker)
            and m.chunk_size is not None
            and (m.chunk_size, m.n_runs) != (cs, n)
        ),
        None,
    )
    restore = "restore the chunk_size it was created with"
    if other is not None:
        k, m = other
        restore = f'restore "chunk_size": {m.chunk_size}' + (
            f' and "n_runs": {m.n_runs}' if m.n_runs != n else ""
        )
    n_chunks = manifest.get("n_chunks")
    if n_chunks is not None and n_chunks != len(bounds):
        raise _layout_error(
            store,
            f"{MANIFEST} says chunk_size {cs}, which cuts {n} runs "
            f"into {len(bounds)} chunks, and n_chunks {n_chunks}",
            restore,
        )
    if other is not None:
        k, m = other
        raise _layout_error(
            store,
            f"{MANIFEST} says chunk_size {cs} and n_runs {n}, but "
            f"chunk {k} was committed with chunk_size {m.chunk_size} and "
            f"n_runs {m.n_runs}",
            restore,
        )
    out = ChunkScan(bounds)
    for k, m in markers.items():
        if isinstance(m, MarkerError):
            out.damaged[k] = str(m)
            continue
        want = bounds[k] if k < len(bounds) else None
        if (m.start, m.stop) != want:
            if m.chunk_size is not None:  # a sound marker of this very chunking: damaged
                out.damaged[k] = f"its runs {m.start}..{m.stop} are not chunk {k}'s"
                continue
            where = f"runs {want[0]}..{want[1]}" if want else "beyond the last chunk"
            raise _layout_error(
                store,
                f"chunk {k} was committed as runs {m.start}..{m.stop}, "
                f"but {MANIFEST}'s chunk_size {cs} makes it {where}",
                restore,
            )
        gone = [t for t in PART_DIRS if not store.part(t, k).is_file()]
        if gone:
            out.missing[k] = "no " + ", ".join(_rel(store, store.part(t, k)) for t in gone)
        else:
            out.committed[k] = m
    out.unmarked = [k for k in range(len(bounds)) if k not in markers]
    return out


def digest_problem(got: PartDigest, want: PartDigest) -> str | None:
    if got.size != want.size:
        how = "truncated" if got.size < want.size else "grown"
        return f"it has {got.size} bytes but {want.size} were committed ({how})"
    if got.sha256 != want.sha256:
        return "its SHA-256 differs from its done marker's (it changed after it was committed)"
    return None


def part_problem(store: Store, table: str, marker: Marker) -> str | None:
    """What is wrong with one committed part file, or ``None`` if it is the committed one.

    With digests in the marker: its size (from ``stat``, so a truncation costs nothing),
    then its SHA-256; without: whether it decodes completely.
    """
    path = store.part(table, marker.chunk)
    try:
        if marker.parts is None:
            return decode_error(table, path.read_bytes())
        want = marker.parts[table]
        size = path.stat().st_size
        if size != want.size:
            return digest_problem(PartDigest(size, ""), want)
        return digest_problem(file_digest(path), want)
    except FileNotFoundError:
        return "it is missing"


def read_checked(path: os.PathLike, table: str, marker: Marker) -> tuple[bytes, str | None]:
    """A part's bytes and what is wrong with them (``None``: they are the committed ones).

    Checked against the marker's digest, or decoded for a marker without digests.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return b"", "it is missing"
    if marker.parts is None:
        return data, decode_error(table, data)
    return data, digest_problem(digest(data), marker.parts[table])


def read_part(store: Store, table: str, marker: Marker) -> bytes:
    """The bytes of a committed part; :class:`StoreCorruptError` unless they were committed.

    A part of a marker without digests is returned if it decodes completely.
    """
    path = store.part(table, marker.chunk)
    data, problem = read_checked(path, table, marker)
    if problem is None:
        return data
    raise corrupt_error(store, path, marker.chunk, (marker.start, marker.stop), problem)


def corrupt_error(
    store: Store, path: os.PathLike, chunk: int, runs: tuple[int, int], problem: str
) -> StoreCorruptError:
    """The :class:`StoreCorruptError` of a damaged file of chunk ``chunk`` (``runs``)."""
    return StoreCorruptError(
        f"{_rel(store, path)} of store {store.path} is corrupt: {problem}. Chunk {chunk} "
        f"(runs {runs[0]}..{runs[1]}) cannot be read; `python -m fastdepth.sweep --resume "
        f"{store.path}` trains it again (or restore the file from a backup), and "
        "fastdepth.store.verify() checks the whole store",
        path=store.path / _rel(store, path),
        chunk=chunk,
    )

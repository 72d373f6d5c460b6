"""The :class:`Store`: a sweep directory of a manifest, chunked parts, done markers, a lock.

Creation is safe to kill at any point: the manifest (the store's commit point) is written
first, atomically, and everything else is made on demand; a directory left without a
manifest holds at most the lock, temporary files and empty part directories, which
:meth:`Store.is_empty_dir` counts as empty, so the same command starts afresh there.
"""

from __future__ import annotations

import json
import os
import socket
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import ConfigError, Grid
from ..result import RunResult
from .codec import encode_chunk
from .commits import ChunkScan, part_problem, scan
from .errors import GridMismatchError, StoreCorruptError, StoreCorruptWarning, StoreError
from .files import TMP_MARK, atomic_write, atomic_write_text, fsync_dir, make_dir, remove
from .grids import grid_differences, run_ids_digest
from .integrity import INTEGRITY, Marker, marker_text
from .lock import StoreLock
from .provenance import environment, now
from .schema import (
    DONE,
    FORMAT,
    LOCK,
    MANIFEST,
    PART_DIRS,
    SCHEMA_VERSION,
    SCHEMAS,
    chunk_bounds,
)

__all__ = ["Store"]


class Store:
    """A sweep directory: manifest, chunked Parquet parts, done markers, lock.

    Parameters
    ----------
    path : path
        The store directory. :meth:`create` makes a new store there; the other methods
        expect an existing one.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        #: Chunk -> why: committed chunks the last :meth:`done_chunks` found damaged.
        self.bad_chunks: dict[int, str] = {}
        self._verified: dict[tuple, str | None] = {}  # (chunk, file states) -> problem

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # ---------------------------------------------------------------- paths and state

    def part(self, table: str, chunk: int) -> Path:
        """Path of one chunk's part of ``table`` (a Parquet table, or ``'params'``)."""
        ext = "npz" if table == "params" else "parquet"
        return self.path / table / f"part-{chunk:05d}.{ext}"

    def marker(self, chunk: int) -> Path:
        """Path of a chunk's commit marker."""
        return self.path / DONE / f"chunk-{chunk:05d}"

    def exists(self) -> bool:
        """Whether the directory holds a store (a manifest)."""
        return (self.path / MANIFEST).is_file()

    def manifest(self) -> dict[str, Any]:
        """The manifest as a dict."""
        try:
            m = json.loads((self.path / MANIFEST).read_bytes())
        except FileNotFoundError:
            raise StoreError(f"{self.path} is not a fastdepth store (no {MANIFEST})") from None
        except (ValueError, UnicodeDecodeError) as e:
            m = e
        if not isinstance(m, dict):
            raise StoreCorruptError(f"{MANIFEST} of store {self.path} is corrupt: not a JSON "
                                    f"object ({m})", path=self.path / MANIFEST)  # fmt: skip
        return m

    def grid(self) -> Grid:
        """The stored grid, rebuilt (and re-validated) from the manifest."""
        return Grid.from_dict(self.manifest()["grid"])

    def chunk_size(self) -> int:
        """Runs per chunk (fixed when the store was created)."""
        return int(self.manifest()["chunk_size"])

    def chunks(self) -> list[tuple[int, int]]:
        """``(start, stop)`` grid positions of every chunk."""
        m = self.manifest()
        return chunk_bounds(int(m["n_runs"]), int(m["chunk_size"]))

    def scan(self) -> ChunkScan:
        """Every chunk's state from the markers (no part is read): see :func:`.commits.scan`.

        Raises :class:`StoreCorruptError` if the manifest's chunking contradicts the
        committed chunks (an edited ``chunk_size``).
        """
        return scan(self)

    def done_chunks(self, verify: bool = True) -> list[int]:
        """Indices of committed chunks, sorted: a sound marker and every part file present.

        Parameters
        ----------
        verify : bool
            Also check every part against its marker (size and SHA-256; parts of an old
            marker without digests are decoded instead). A chunk that fails is left out,
            so a resumed sweep trains it again, and reported: :attr:`bad_chunks` and one
            :class:`StoreCorruptWarning` naming each chunk, file and reason. A chunk whose
            marker is damaged or whose part was deleted counts as bad too. Results are
            remembered per file state, so asking again costs only a ``stat`` per file.
            ``False``: markers and file presence only.

        Raises
        ------
        StoreCorruptError
            The manifest's chunking contradicts the committed chunks.
        """
        s = self.scan()
        if not verify:
            return sorted(s.committed)
        bad = {k: f"{os.path.relpath(self.marker(k), self.path)}: {why}"
               for k, why in s.damaged.items()}  # fmt: skip
        bad.update(s.missing)
        for k, marker in s.committed.items():
            problem = self._verified_problem(k, marker)
            if problem is not None:
                bad[k] = problem
        self.bad_chunks = dict(sorted(bad.items()))
        if bad:
            what = "; ".join(
                f"chunk {k} (runs {s.bounds[k][0]}..{s.bounds[k][1]}): {why}"
                for k, why in self.bad_chunks.items()
            )
            warnings.warn(
                f"store {self.path}: committed chunks that failed verification are not "
                f"counted as done (a resumed sweep trains them again): {what}",
                StoreCorruptWarning,
                stacklevel=2,
            )
        return sorted(k for k in s.committed if k not in bad)

    def _verified_problem(self, k: int, marker: Marker) -> str | None:
        """:func:`.commits.part_problem` of every part of chunk ``k``, remembered.

        Remembered per (inode, size, mtime, ctime) of the marker and every part: a part
        rewritten since (a rename gives a new inode) is checked again.
        """
        paths = [self.marker(k), *(self.part(t, k) for t in PART_DIRS)]
        try:
            states = tuple((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                           for st in (p.stat() for p in paths))  # fmt: skip
        except FileNotFoundError:
            states = None
        key = (k, states)
        if states is None or key not in self._verified:
            problem = None
            for t in PART_DIRS:
                why = part_problem(self, t, marker)
                if why is not None:
                    problem = f"{os.path.relpath(self.part(t, k), self.path)}: {why}"
                    break
            if states is None:
                return problem
            self._verified[key] = problem
        return self._verified[key]

    def is_empty_dir(self) -> bool:
        """True if the directory holds no data: nothing, or only what creating a store leaves.

        That is a lock, temporary files and empty part directories (holding at most
        temporary files): the remains of a sweep killed while creating its store, where
        the same command can start afresh.
        """
        if not self.path.exists():
            return True

        def skeleton(p: Path) -> bool:
            if p.name == LOCK or TMP_MARK in p.name:
                return True
            if p.name in (*PART_DIRS, DONE) and p.is_dir() and not p.is_symlink():
                return all(TMP_MARK in q.name for q in p.iterdir())
            return False

        return all(skeleton(p) for p in self.path.iterdir())

    # ---------------------------------------------------------------- lifecycle

    def lock(self) -> StoreLock:
        """A :class:`StoreLock` on this directory (``with store.lock(): ...``)."""
        return StoreLock(self.path)

    def create(
        self,
        grid: Grid,
        chunk_size: int,
        threads: int | None = None,
        command: Sequence[str] | None = None,
    ) -> None:
        """Write the manifest, then the part directories of a new store.

        Call with the lock held, on an empty directory (see :meth:`is_empty_dir`). The
        manifest is renamed into place first: before it the directory is still empty,
        after it a complete store (:meth:`write_parts` makes a missing part directory).
        """
        if self.exists():
            raise StoreError(f"{self.path} already holds a store")
        env = environment(threads)
        n = len(grid)
        manifest = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "created": now(),
            "grid": grid.to_dict(),
            "n_runs": n,
            "run_ids_sha256": run_ids_digest(grid),
            "chunk_size": int(chunk_size),
            "n_chunks": len(chunk_bounds(n, chunk_size)),
            **env,
            "command": list(command) if command is not None else None,
            "sessions": [],
            "tables": {name: s.names for name, s in SCHEMAS.items()},
            "integrity": INTEGRITY,
        }
        self.path.mkdir(parents=True, exist_ok=True)
        self._write_manifest(manifest)
        self._make_dirs()

    def _make_dirs(self) -> None:
        for d in (*PART_DIRS, DONE):
            make_dir(self.path / d)
        fsync_dir(self.path)

    def _write_manifest(self, manifest: Mapping[str, Any]) -> None:
        text = json.dumps(manifest, indent=2, allow_nan=False) + "\n"
        atomic_write_text(self.path / MANIFEST, text)
        fsync_dir(self.path)

    def add_session(self, threads: int, command: Sequence[str] | None = None) -> None:
        """Record a sweep session (start time, pid, host, threads) in the manifest."""
        m = self.manifest()
        m.setdefault("sessions", []).append(
            {"started": now(), "pid": os.getpid(), "host": socket.gethostname(),
             "threads": int(threads), "fastdepth": __version__,
             "command": list(command) if command is not None else None}
        )  # fmt: skip
        self._write_manifest(m)

    def check_grid(self, grid: Grid) -> None:
        """Raise :class:`GridMismatchError` unless ``grid`` has exactly the stored runs.

        Also raises :class:`StoreError` for a store of another schema version: its parts
        and new ones would have different columns; and :class:`StoreCorruptError` if the
        manifest contradicts itself or the committed chunks (an edited ``chunk_size``).
        """
        m = self.manifest()
        version = m.get("schema_version")
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path} has schema version {version} (written by fastdepth "
                f"{m.get('fastdepth', '?')}); this fastdepth writes version {SCHEMA_VERSION} "
                "and cannot add to it. Start the sweep in a new --out directory; the old store "
                "still loads with fastdepth.load (new columns read as missing)"
            )
        self.scan()  # the chunking agrees with the committed chunks
        if m.get("run_ids_sha256") == run_ids_digest(grid):
            if m.get("n_runs") != len(grid):
                raise StoreCorruptError(f"store {self.path}: {MANIFEST} says n_runs "
                                        f"{m.get('n_runs')} for a grid of {len(grid)} runs; "
                                        "it was edited or damaged")  # fmt: skip
            return
        try:
            diffs = grid_differences(self.grid(), grid)
        except ConfigError as e:
            diffs = [f"the stored grid is not valid with this fastdepth version ({e})"]
        raise GridMismatchError(
            f"store {self.path} holds a different grid than requested: {'; '.join(diffs)} "
            f"(store -> command). Use a new --out directory, or --resume {self.path} without "
            "grid flags to continue the stored grid"
        )

    def remove_tmp(self) -> list[Path]:
        """Delete temporary files left by a crashed writer; returns what was removed.

        Call with the lock held (another live writer's temporary files would vanish).
        """
        removed = []
        for d in (self.path, *(self.path / n for n in (*PART_DIRS, DONE))):
            if not d.is_dir():
                continue
            for p in d.iterdir():
                if TMP_MARK in p.name and (p.is_symlink() or p.is_file()):
                    remove(p)
                    removed.append(p)
        return removed

    def write_chunk(
        self,
        chunk: int,
        start: int,
        results: Sequence[RunResult],
        seconds: float = 0.0,
        threads: int = 0,
    ) -> None:
        """Write every file of one chunk atomically, then its marker (the commit point).

        Parameters
        ----------
        chunk : int
            Chunk index.
        start : int
            Grid position of the chunk's first run.
        results : sequence of RunResult
            The chunk's results, in grid order.
        seconds : float
            Wall time of training the chunk (goes to ``timing`` only).
        threads : int
            Threads used (``timing`` only).
        """
        parts = encode_chunk(results, start, chunk, seconds, threads)
        self.write_parts(chunk, start, len(results), parts)

    def write_parts(self, chunk: int, start: int, n_runs: int, parts: Mapping[str, bytes]) -> None:
        """Commit one chunk from its encoded files (:func:`encode_chunk`), marker last.

        Each part is written atomically, then the ``done`` marker with every part's size
        and SHA-256: a crash at any point leaves either a committed chunk or one that a
        resumed sweep redoes. A chunk committed before (a damaged one being re-trained) is
        uncommitted first, so no reader sees its marker beside new parts. Used by
        :meth:`write_chunk` and by the client of a distributed sweep, whose workers encode
        the parts (:mod:`fastdepth.distributed`).
        """
        if sorted(parts) != sorted(PART_DIRS):
            raise ValueError(f"chunk {chunk}: parts {sorted(parts)} != {sorted(PART_DIRS)}")
        m = self.manifest()
        n, cs = int(m["n_runs"]), int(m["chunk_size"])
        bounds = chunk_bounds(n, cs)
        if not (0 <= chunk < len(bounds) and bounds[chunk] == (start, start + n_runs)):
            raise ValueError(f"chunk {chunk} of runs {start}..{start + n_runs} is not a chunk "
                             f"of {self.path} (chunk_size {cs}, {n} runs)")  # fmt: skip
        if any(not (self.path / d).is_dir() for d in (*PART_DIRS, DONE)):
            self._make_dirs()  # creation was interrupted after the manifest
        marker = self.marker(chunk)
        if marker.exists() or marker.is_symlink():
            remove(marker)
            fsync_dir(self.path / DONE)
        for name in PART_DIRS:
            data = parts[name]
            atomic_write(self.part(name, chunk), lambda f, d=data: f.write(d))
        for d in PART_DIRS:
            fsync_dir(self.path / d)
        text = marker_text(chunk, start, start + n_runs, cs, n, parts, now())
        atomic_write_text(marker, text)
        fsync_dir(self.path / DONE)

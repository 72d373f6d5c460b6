"""The :class:`Store`: a sweep directory of a manifest, chunked parts, done markers, a lock."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import ConfigError, Grid
from ..result import RunResult
from .codec import encode_chunk
from .errors import GridMismatchError, StoreError
from .files import atomic_write, atomic_write_text, fsync_dir
from .grids import grid_differences, run_ids_digest
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
            return json.loads((self.path / MANIFEST).read_text())
        except FileNotFoundError:
            raise StoreError(f"{self.path} is not a fastdepth store (no {MANIFEST})") from None

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

    def done_chunks(self) -> list[int]:
        """Indices of committed chunks, sorted: a marker and every part file present.

        (The marker is written last, so it implies the parts; checking them as well makes a
        part deleted by hand mean "redo this chunk" rather than a broken store.)
        """
        out = []
        with contextlib.suppress(FileNotFoundError):
            for p in (self.path / DONE).iterdir():
                name = p.name
                if name.startswith("chunk-") and name[6:].isdigit():
                    k = int(name[6:])
                    if all(self.part(t, k).is_file() for t in PART_DIRS):
                        out.append(k)
        return sorted(out)

    def is_empty_dir(self) -> bool:
        """True if the directory holds nothing but a lock and leftover temporary files."""
        if not self.path.exists():
            return True
        return all(p.name == LOCK or ".tmp-" in p.name for p in self.path.iterdir())

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
        """Write the manifest and the part directories of a new store.

        Call with the lock held, on an empty directory (see :meth:`is_empty_dir`).
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
        }
        self.path.mkdir(parents=True, exist_ok=True)
        for d in (*PART_DIRS, DONE):
            (self.path / d).mkdir(exist_ok=True)
        self._write_manifest(manifest)

    def _write_manifest(self, manifest: Mapping[str, Any]) -> None:
        text = json.dumps(manifest, indent=2, allow_nan=False) + "\n"
        atomic_write_text(self.path / MANIFEST, text)

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
        and new ones would have different columns.
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
        if m.get("run_ids_sha256") == run_ids_digest(grid):
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
                if ".tmp-" in p.name and p.is_file():
                    p.unlink()
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

        Each part is written atomically, then the ``done`` marker: a crash at any point
        leaves either a committed chunk or one that a resumed sweep redoes. Used by
        :meth:`write_chunk` and by the client of a distributed sweep, whose workers encode
        the parts (:mod:`fastdepth.distributed`).
        """
        if sorted(parts) != sorted(PART_DIRS):
            raise ValueError(f"chunk {chunk}: parts {sorted(parts)} != {sorted(PART_DIRS)}")
        for name in PART_DIRS:
            data = parts[name]
            atomic_write(self.part(name, chunk), lambda f, d=data: f.write(d))
        for d in PART_DIRS:
            fsync_dir(self.path / d)
        marker = {"chunk": chunk, "runs": [start, start + n_runs], "written": now()}
        atomic_write_text(self.marker(chunk), json.dumps(marker) + "\n")
        fsync_dir(self.path / DONE)

"""Check a whole store on demand: :func:`verify` -> :class:`VerifyReport`."""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..config import ConfigError
from ..kernels.vocab import STATUSES
from .commits import few, read_checked
from .directory import Store
from .errors import StoreCorruptError
from .files import TMP_MARK
from .grids import run_ids_digest
from .integrity import Marker, decode_error
from .schema import DONE, MANIFEST, PART_DIRS

__all__ = ["VerifyReport", "verify"]

_RESULT_STATUSES = frozenset(STATUSES.where(internal=False))


@dataclass
class VerifyReport:
    """What :func:`verify` found.

    Attributes
    ----------
    path : Path
        The store.
    n_chunks, n_runs : int
        Chunks and runs of its grid (0 if the manifest cannot say).
    ok : list of int
        Chunks whose every part is the committed one (and, with ``deep``, decodes and
        holds exactly the chunk's runs).
    bad : dict
        Chunk -> problems (``"file: reason"``): a marker, but files that cannot be trusted.
        A resumed sweep trains these chunks again.
    not_committed : list of int
        Chunks without a marker: not trained yet, or interrupted mid-chunk.
    unhashed : list of int
        Sound chunks whose markers record no digests (written by an older fastdepth):
        checked by decoding only.
    problems : list of str
        Store-wide problems: an unreadable manifest, chunking that contradicts the
        committed chunks. No chunk is judged then.
    tmp_files : list of Path
        Temporary files left by an interrupted writer (harmless; a resume deletes them).
    bounds : list of (int, int)
        ``(start, stop)`` of every chunk.
    """

    path: Path
    n_chunks: int = 0
    n_runs: int = 0
    ok: list[int] = field(default_factory=list)
    bad: dict[int, list[str]] = field(default_factory=dict)
    not_committed: list[int] = field(default_factory=list)
    unhashed: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    tmp_files: list[Path] = field(default_factory=list)
    bounds: list[tuple[int, int]] = field(default_factory=list, repr=False)

    @property
    def sound(self) -> bool:
        """Nothing damaged (the store may still be incomplete)."""
        return not self.problems and not self.bad

    @property
    def complete(self) -> bool:
        """Sound and every chunk committed."""
        return self.sound and len(self.ok) == self.n_chunks

    def __str__(self) -> str:
        if self.problems:
            return "\n".join([f"store {self.path}: DAMAGED", *(f"  {p}" for p in self.problems)])
        runs = sum(b - a for k, (a, b) in enumerate(self.bounds) if k in set(self.ok))
        state = "complete" if self.complete else "sound, incomplete" if self.sound else "DAMAGED"
        lines = [f"store {self.path}: {state}: {len(self.ok)} of {self.n_chunks} chunks "
                 f"verified ({runs} of {self.n_runs} runs)"]  # fmt: skip
        for k, why in self.bad.items():
            a, b = self.bounds[k]
            lines += [f"  chunk {k} (runs {a}..{b}): {w}" for w in why]
        if self.not_committed:
            lines.append(f"  not committed (no done marker): chunks {few(self.not_committed, 10)}")
        if self.unhashed:
            lines.append(f"  no digests recorded (an older fastdepth wrote them), checked by "
                         f"decoding only: chunks {few(self.unhashed, 10)}")  # fmt: skip
        if self.tmp_files:
            lines.append(f"  {len(self.tmp_files)} temporary files of an interrupted writer")
        if self.bad or self.not_committed:
            lines.append(f"  `python -m fastdepth.sweep --resume {self.path}` trains the "
                         f"{'damaged and ' if self.bad else ''}missing chunks")  # fmt: skip
        return "\n".join(lines)


def _content_problem(table: str, data: bytes, k: int, ids: list[str] | None) -> str | None:
    """Whether a decodable part holds exactly chunk ``k``'s runs (``ids``, if known)."""
    if table == "params":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
        lost = [r for r in ids or () if f"{r}/W0.npy" not in names]
        return f"no parameters of run {lost[0]}" if lost else None
    t = pq.read_table(pa.BufferReader(data))
    col = t.column("run_id").to_pylist()
    if table in ("curves", "layers"):
        extra = set(col) - set(ids) if ids is not None else set()
        lost = set(ids) - set(col) if ids is not None else set()
        if extra or lost:
            return f"its run ids are not the chunk's ({len(extra)} foreign, {len(lost)} missing)"
        return None
    if ids is not None and col != ids:
        return "its run ids are not the chunk's runs in grid order"
    if pc.any(pc.not_equal(t.column("chunk"), k)).as_py():
        return f"its chunk column is not {k}"
    if table == "runs":
        start = t.column("run_index")[0].as_py() if t.num_rows else 0
        if t.column("run_index").to_pylist() != list(range(start, start + t.num_rows)):
            return "its run_index is not consecutive"
        odd = set(t.column("status").to_pylist()) - _RESULT_STATUSES
        if odd:
            return f"unknown status {sorted(map(str, odd))[0]!r}"
    return None


def _chunk_problems(store: Store, m: Marker, deep: bool, ids: list[str] | None) -> list[str]:
    out = []
    for t in PART_DIRS:
        path = store.part(t, m.chunk)
        data, why = read_checked(path, t, m)
        if why is None and deep and m.parts is not None:  # (without digests: decoded above)
            why = decode_error(t, data)
        if why is None and deep:
            why = _content_problem(t, data, m.chunk, ids)
        if why is not None:
            out.append(f"{os.path.relpath(path, store.path)}: {why}")
    return out


def verify(path: str | os.PathLike, *, deep: bool = True) -> VerifyReport:
    """Check every committed chunk of a store against its done marker.

    Parameters
    ----------
    path : path
        Store directory. Only read; safe while a sweep writes there (chunks in flight are
        reported as not committed).
    deep : bool
        Beyond sizes and SHA-256 digests, decode every part (Parquet page checksums,
        zip CRCs) and check that it holds exactly its chunk's runs.

    Returns
    -------
    VerifyReport
        ``str(report)`` is a summary for people; ``report.sound`` / ``report.complete``
        for programs.
    """
    store = Store(path)
    if not store.exists():
        raise FileNotFoundError(f"{store.path} is not a fastdepth store (no {MANIFEST})")
    rep = VerifyReport(store.path)
    rep.tmp_files = sorted(
        p for d in (store.path, *(store.path / n for n in (*PART_DIRS, DONE))) if d.is_dir()
        for p in d.iterdir() if TMP_MARK in p.name
    )  # fmt: skip
    try:
        s = store.scan()
        m = store.manifest()
    except StoreCorruptError as e:
        rep.problems.append(str(e))
        return rep
    rep.bounds = s.bounds
    rep.n_chunks, rep.n_runs = len(s.bounds), s.bounds[-1][1] if s.bounds else 0
    ids = None
    if deep:
        try:
            grid = store.grid()
        except (ConfigError, KeyError, TypeError, ValueError) as e:
            rep.problems.append(f"the stored grid cannot be rebuilt ({e}): run ids unchecked")
        else:
            if run_ids_digest(grid) != m.get("run_ids_sha256") or len(grid) != rep.n_runs:
                rep.problems.append(f"{MANIFEST}: its grid does not match its run_ids_sha256 "
                                    "and n_runs (edited or damaged)")  # fmt: skip
            else:
                ids = grid.run_ids()
    for k, why in s.damaged.items():
        rep.bad[k] = [f"{os.path.relpath(store.marker(k), store.path)}: {why}"]
    for k, why in s.missing.items():
        rep.bad[k] = [why]
    for k, marker in s.committed.items():
        a, b = s.bounds[k]
        problems = _chunk_problems(store, marker, deep, ids[a:b] if ids is not None else None)
        if problems:
            rep.bad[k] = problems
        else:
            rep.ok.append(k)
            if marker.parts is None:
                rep.unhashed.append(k)
    rep.bad = dict(sorted(rep.bad.items()))
    rep.not_committed = list(s.unmarked)
    return rep

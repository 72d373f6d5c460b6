"""Integrity of committed chunks: part sizes and SHA-256 digests recorded in the done markers.

A done marker (``done/chunk-XXXXX``) is a small JSON document written after every part of
its chunk::

    {"chunk": 3, "runs": [15, 20], "chunk_size": 5, "n_runs": 48, "written": "...",
     "parts": {"runs": {"bytes": 20517, "sha256": "9f2c..."}, ...}, "sha256": "41ab..."}

``parts`` holds the size and SHA-256 of every part file as it was committed; the last
``sha256`` is the digest of the marker itself (of the other keys, canonical JSON), so a
damaged marker is told apart from an edited manifest. Markers written before digests were
recorded (``{"chunk", "runs", "written"}``) are still read; their parts can only be checked
by decoding them (:func:`decode_error`).

Parquet parts also carry page checksums (CRC-32 of every data page, verified on every
read), and the ``.npz`` parameters the zip CRC of every array: a part copied away from its
marker still checks itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .schema import PART_DIRS

__all__ = [
    "INTEGRITY",
    "PARQUET",
    "Marker",
    "MarkerError",
    "PartDigest",
    "decode_error",
    "digest",
    "file_digest",
    "marker_text",
    "parse_marker",
]

# The manifest's "integrity" of a store whose every marker records its parts' SHA-256.
INTEGRITY = "sha256"
# How every Parquet part is read: with the page checksums verified.
PARQUET = ds.ParquetFileFormat(
    default_fragment_scan_options=ds.ParquetFragmentScanOptions(page_checksum_verification=True)
)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_BLOCK = 1 << 20


@dataclass(frozen=True)
class PartDigest:
    """Size in bytes and SHA-256 (hex) of a part file."""

    size: int
    sha256: str


@dataclass(frozen=True)
class Marker:
    """A parsed done marker.

    ``chunk_size``, ``n_runs`` and ``parts`` are ``None`` in a marker written before they
    were recorded.
    """

    chunk: int
    start: int
    stop: int
    chunk_size: int | None
    n_runs: int | None
    parts: Mapping[str, PartDigest] | None


class MarkerError(ValueError):
    """A done marker that cannot be trusted; the message says why."""


def digest(data: bytes) -> PartDigest:
    """:class:`PartDigest` of bytes in memory."""
    return PartDigest(len(data), hashlib.sha256(data).hexdigest())


def file_digest(path: Path) -> PartDigest:
    """:class:`PartDigest` of a file, read in blocks."""
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
            size += len(block)
    return PartDigest(size, h.hexdigest())


def _self_digest(body: Mapping[str, Any]) -> str:
    text = json.dumps({k: v for k, v in body.items() if k != "sha256"}, sort_keys=True,
                      separators=(",", ":"))  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()


def marker_text(
    chunk: int,
    start: int,
    stop: int,
    chunk_size: int,
    n_runs: int,
    parts: Mapping[str, bytes],
    written: str,
) -> str:
    """The JSON text of the done marker of a chunk whose part files hold ``parts``."""
    body: dict[str, Any] = {
        "chunk": chunk,
        "runs": [start, stop],
        "chunk_size": chunk_size,
        "n_runs": n_runs,
        "written": written,
        "parts": {name: {"bytes": d.size, "sha256": d.sha256}
                  for name, d in ((n, digest(parts[n])) for n in PART_DIRS)},
    }  # fmt: skip
    body["sha256"] = _self_digest(body)
    return json.dumps(body) + "\n"


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def parse_marker(text: bytes, chunk: int, require_digests: bool) -> Marker:
    """Parse and check a done marker; :class:`MarkerError` says what is wrong with it.

    Parameters
    ----------
    text : bytes
        The marker file's content.
    chunk : int
        The chunk its file name says it commits.
    require_digests : bool
        The store records part digests in every marker (its manifest says so): a marker
        without them is damaged, not old.
    """
    try:
        body = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise MarkerError("it is not valid JSON") from None
    if not isinstance(body, dict):
        raise MarkerError("it is not a JSON object")
    hashed = "sha256" in body
    if hashed and body["sha256"] != _self_digest(body):
        raise MarkerError("its own SHA-256 does not match its content (it changed after it "
                          "was written)")  # fmt: skip
    if not hashed and require_digests:
        raise MarkerError("it records no part digests, which every marker of this store has")
    runs = body.get("runs")
    if body.get("chunk") != chunk:
        raise MarkerError(f"it names chunk {body.get('chunk')!r}")
    if not (isinstance(runs, list) and len(runs) == 2 and all(map(_int, runs))):
        raise MarkerError(f"its run range {runs!r} is not [start, stop]")
    if not hashed:
        return Marker(chunk, runs[0], runs[1], None, None, None)
    parts = body.get("parts")
    if not isinstance(parts, dict) or sorted(parts) != sorted(PART_DIRS):
        raise MarkerError("its part list is not the store's parts")
    digests = {}
    for name in PART_DIRS:
        p = parts[name]
        ok = isinstance(p, dict) and _int(p.get("bytes")) and _HEX64.fullmatch(str(p.get("sha256")))
        if not ok:
            raise MarkerError(f"its {name} digest is malformed")
        digests[name] = PartDigest(p["bytes"], p["sha256"])
    cs, n = body.get("chunk_size"), body.get("n_runs")
    if not (_int(cs) and _int(n)):
        raise MarkerError("its chunk_size or n_runs is not a count")
    return Marker(chunk, runs[0], runs[1], cs, n, digests)


def _check_npz(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        bad = z.testzip()  # reads every entry and checks its CRC
        if bad is not None:
            raise zipfile.BadZipFile(f"CRC mismatch in {bad}")
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        for key in z.files:
            z[key]


def decode_error(table: str, data: bytes) -> str | None:
    """Why the bytes of a part do not decode completely, or ``None`` if they do.

    Parquet: every page read with its checksum verified; ``.npz``: every zip entry's CRC
    checked and every array parsed.
    """
    try:
        if table == "params":
            _check_npz(data)
        else:
            pq.read_table(pa.BufferReader(data), page_checksum_verification=True)
    except Exception as e:  # whatever a damaged file makes the decoder raise
        return f"it cannot be decoded ({type(e).__name__}: {e})"
    return None

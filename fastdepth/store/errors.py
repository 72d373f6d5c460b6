"""The exceptions and warnings of the results store."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "GridMismatchError",
    "StoreCorruptError",
    "StoreCorruptWarning",
    "StoreError",
    "StoreIncompleteWarning",
    "StoreLockedError",
]


class StoreError(RuntimeError):
    """A store cannot be used as asked; the message says why and what to do."""


class StoreLockedError(StoreError):
    """Another live sweep holds the store's lock."""


class GridMismatchError(StoreError):
    """The store holds a different grid than the one requested."""


class StoreCorruptError(StoreError):
    """A file of a store differs from what was committed, or the store contradicts itself.

    Raised instead of returning numbers that may be wrong. ``path`` is the damaged file
    (``None`` for a contradiction between files) and ``chunk`` its chunk, if any.
    """

    def __init__(self, message: str, path: Path | None = None, chunk: int | None = None):
        super().__init__(message)
        self.path = path
        self.chunk = chunk


class StoreCorruptWarning(UserWarning):
    """Committed chunks failed verification and are not counted as done (re-trained)."""


class StoreIncompleteWarning(UserWarning):
    """A store read does not hold every run of its grid (some chunks are not committed)."""

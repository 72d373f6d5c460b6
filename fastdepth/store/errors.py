"""The exceptions of the results store."""

from __future__ import annotations

__all__ = ["GridMismatchError", "StoreError", "StoreLockedError"]


class StoreError(RuntimeError):
    """A store cannot be used as asked; the message says why and what to do."""


class StoreLockedError(StoreError):
    """Another live sweep holds the store's lock."""


class GridMismatchError(StoreError):
    """The store holds a different grid than the one requested."""

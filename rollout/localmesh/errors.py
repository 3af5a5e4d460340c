"""The embedded mesh's exceptions. ``MeshError`` is the base every mesh provider's errors derive from."""

from __future__ import annotations


class MeshError(Exception):
    """A mesh could not do what was asked; the message says what happened and what to do next."""


class LocalMeshError(MeshError):
    """The embedded mesh failed: a port in use, a bad configuration, a mesh not running."""

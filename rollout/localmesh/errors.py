"""The embedded mesh's exceptions, under the providers' common ``MeshError``."""

from __future__ import annotations

from rollout.mesh.errors import MeshError

__all__ = ["LocalMeshError", "MeshError"]


class LocalMeshError(MeshError):
    """The embedded mesh failed: a port in use, a bad configuration, a mesh not running."""

"""The traffic providers' exceptions. ``MeshError`` is the base every mesh provider's errors derive from.

Adapters translate library errors into these at their edge (``raise MeshError(...) from exc``); the
message is one line that says what happened and what to do next.
"""

from __future__ import annotations


class MeshError(Exception):
    """A mesh could not do what was asked; the message says what happened and what to do next.

    ``temporary`` says whether the same call may succeed later without anyone changing anything
    (an API server that is down, a write that kept conflicting); a permanent error needs a person.
    """

    temporary: bool = False


class TransientMeshError(MeshError):
    """A failure worth retrying as is: the API server unreachable or busy, conflicting writes."""

    temporary = True


class TargetMissing(MeshError):
    """The routing object holds no route, rule or stable destination the spec names (a typo, or one taken
    away): a run that never wrote to the mesh has nothing of its own there, so its revert has nothing to do."""

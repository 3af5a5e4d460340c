"""What a failed run or reconcile is called in the Experiment's Ready condition and the logs. Pure."""

from __future__ import annotations

from analysis.sources import MetricsUnavailableError
from rollout.kube.client import KubeError
from rollout.mesh.errors import MeshError


def failure_reason(exc: BaseException) -> str:
    """The Ready condition's reason (and the errors metric's label) for a failed run or reconcile."""
    name = type(exc).__name__
    if isinstance(exc, MeshError):
        return "MeshError"
    if isinstance(exc, MetricsUnavailableError):
        return "MetricsUnavailable"
    if name in ("StatusConflict", "NotLeader", "RevertFailed"):
        return name
    if isinstance(exc, KubeError):
        return "ApiError"
    return "InternalError"


def one_line(exc: BaseException) -> str:
    """The failure as one line of at most 500 characters, for a condition's message and the log."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 500 else text[:497] + "..."

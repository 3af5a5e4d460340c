"""The embedded mesh's configuration: the service, its two versions, where to listen, the demo load."""

from __future__ import annotations

from dataclasses import dataclass, field

from rollout.localmesh.backends import BackendProfile
from rollout.localmesh.errors import LocalMeshError
from rollout.localmesh.loadgen import LoadSpec


@dataclass(frozen=True)
class VersionSpec:
    """One version of the service: its name ("v1") and how its demo backend behaves."""

    name: str
    profile: BackendProfile = field(default_factory=BackendProfile)


@dataclass(frozen=True)
class LocalMeshConfig:
    """Everything the embedded mesh needs. Ports 0 pick free ones; ``seed`` makes every draw repeatable."""

    service: str = "demo"
    namespace: str = "default"
    stable: VersionSpec = field(default_factory=lambda: VersionSpec("v1"))
    canary: VersionSpec = field(default_factory=lambda: VersionSpec("v2"))
    host: str = "127.0.0.1"
    port: int = 0
    metrics_port: int = 0
    load_rate: float = 50.0
    load_concurrency: int = 64
    load_max_duration_s: float = 3600.0
    cohort_header: tuple[str, str] = ("x-cohort", "beta")
    cohort_fraction: float = 0.0
    load_users: int = 0  # simulated users who keep their cookies (0: every request a new visitor)
    seed: int = 0
    source_workload: str = "meshroll-client"
    upstream_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.stable.name or not self.canary.name or self.stable.name == self.canary.name:
            raise LocalMeshError(
                f"stable and canary need two different non-empty version names, got "
                f"{self.stable.name!r} and {self.canary.name!r}"
            )
        for flag, port in (("--port", self.port), ("--metrics-port", self.metrics_port)):
            if not 0 <= port <= 65535:
                raise LocalMeshError(f"{flag} must be within 0..65535 (0: any free port), got {port}")
        if self.upstream_timeout_s <= 0:
            raise LocalMeshError(f"upstream timeout must be > 0 s, got {self.upstream_timeout_s}")
        self.load_spec()  # validates the load settings

    def load_spec(self) -> LoadSpec:
        return LoadSpec(
            rate=self.load_rate,
            max_duration_s=self.load_max_duration_s,
            concurrency=self.load_concurrency,
            cohort_header=self.cohort_header,
            cohort_fraction=self.cohort_fraction,
            users=self.load_users,
        )

"""How to reach Prometheus, as ``meshroll run``, ``demo`` and ``analyze`` take it: the same options, the same
help, one ``PrometheusAccess`` to build the client's config from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

Headers = Annotated[
    list[str] | None,
    typer.Option("--prometheus-header", help="Extra header NAME:VALUE for Prometheus, e.g. X-Scope-OrgID:shop "
                 "(repeatable)."),
]  # fmt: skip
CaFile = Annotated[
    Path | None, typer.Option("--prometheus-ca-file", help="CA bundle (PEM) for a Prometheus served over https.")
]
Insecure = Annotated[
    bool, typer.Option("--prometheus-insecure", help="Skip TLS verification of Prometheus (testing only).")
]
TIMEOUT_HELP = "Seconds per Prometheus request."
Timeout = Annotated[float, typer.Option("--prometheus-timeout", help=TIMEOUT_HELP)]
AnalyzeTimeout = Annotated[float, typer.Option("--prometheus-timeout", "--timeout", help=TIMEOUT_HELP)]
"""``analyze`` took ``--timeout`` first; a run's would read as the run's own."""


@dataclass(frozen=True)
class PrometheusAccess:
    """What the options say beside the URL (the bearer token comes from $MESHROLL_PROMETHEUS_TOKEN)."""

    headers: tuple[str, ...] = ()
    ca_file: Path | None = None
    insecure: bool = False
    timeout: float = 10.0

    @classmethod
    def of(cls, headers: list[str] | None, ca_file: Path | None, insecure: bool, timeout: float) -> PrometheusAccess:
        return cls(tuple(headers or ()), ca_file, insecure, timeout)

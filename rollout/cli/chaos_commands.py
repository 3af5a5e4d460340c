"""``meshroll chaos stop --all``: the global kill switch for injected faults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rollout.cli.output import console, err_console, fail

chaos_app = typer.Typer(help="Chaos controls.", no_args_is_help=True)


@chaos_app.command("stop")
def stop(
    all_faults: Annotated[bool, typer.Option("--all", help="Remove every fault meshroll injected.")] = False,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Only this namespace.")] = None,
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Kubeconfig (default: in-cluster, then ~/.kube/config).")
    ] = None,
) -> None:
    """Remove injected faults from the cluster now; the controller then ends chaos-only drills (Aborted) and
    keeps the faults off canaries, which go on without them."""
    from rollout.chaos_stop import stop_all
    from rollout.errors import RolloutError
    from rollout.kube.client import api_client

    if not all_faults:
        fail("say which faults: --all removes every fault meshroll injected (add -n NS to limit it to a namespace)")
    try:
        api = api_client(kubeconfig)
    except RolloutError as exc:
        fail(str(exc))
    try:
        report = stop_all(api, namespace)
    except RolloutError as exc:
        fail(str(exc))
    for key in report.stopped:
        console.print(f"stopped faults of experiment {key}", markup=False)
    for orphan in report.orphans:
        console.print(f"removed orphan fault route {orphan}", markup=False)
    for problem in report.problems:
        err_console.print(f"meshroll: {problem}", markup=False)
    console.print(f"{len(report.stopped)} experiments stopped, {len(report.orphans)} orphan fault routes removed")
    raise typer.Exit(1 if report.problems else 0)


def register(app: typer.Typer) -> None:
    app.add_typer(chaos_app, name="chaos")

"""``meshroll engines``: the names ``analysis.engine`` accepts here, and what is wrong with installed plugins."""

from __future__ import annotations

import typer

from rollout.cli.output import console, err_console


def engines() -> None:
    """List the engines: the built-ins and the installed plugins (entry-point group meshroll.engines)."""
    from analysis.engines import ENGINE_NAMES, EngineError, engine_for
    from analysis.plugins import installed

    plugins = installed(ENGINE_NAMES)
    for name in ENGINE_NAMES:
        console.print(f"{name}: built-in", markup=False)
    broken = 0
    for name, plugin in plugins.usable.items():
        try:
            engine_for(name)
        except EngineError as exc:
            broken += 1
            err_console.print(f"error: {exc}", markup=False, soft_wrap=True)
        else:
            console.print(f"{name}: plugin, {plugin.where()}", markup=False, soft_wrap=True)
    for problem in plugins.problems:
        err_console.print(f"warning: {problem}", markup=False, soft_wrap=True)
    if broken:
        raise typer.Exit(1)

"""``meshroll engines`` and ``meshroll sources``: the names ``analysis.engine`` and ``analysis.source``
accept here, and what is wrong with installed plugins."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from rollout.cli.output import console, err_console

if TYPE_CHECKING:
    from analysis.plugins import PluginKind


def engines() -> None:
    """List the engines: the built-ins and the installed plugins (entry-point group meshroll.engines)."""
    from analysis.engines import ENGINE_NAMES, engine_for
    from analysis.plugins import ENGINES

    _list(ENGINE_NAMES, ENGINES, engine_for)


def sources() -> None:
    """List the metric sources: prometheus and the installed plugins (entry-point group meshroll.sources)."""
    from analysis.metric_sources import SOURCE_NAMES, plugin_source
    from analysis.plugins import SOURCES

    _list(SOURCE_NAMES, SOURCES, plugin_source)


def _list(builtin: tuple[str, ...], kind: PluginKind, load: Callable[[str], object]) -> None:
    """Print the built-ins, then each plugin that loads; say on stderr which do not (exit 1) or are ignored."""
    from analysis.plugins import EngineError, installed

    plugins = installed(builtin, kind)
    for name in builtin:
        console.print(f"{name}: built-in", markup=False)
    broken = 0
    for name, plugin in plugins.usable.items():
        try:
            load(name)
        except EngineError as exc:
            broken += 1
            err_console.print(f"error: {exc}", markup=False, soft_wrap=True)
        else:
            console.print(f"{name}: plugin, {plugin.where()}", markup=False, soft_wrap=True)
    for problem in plugins.problems:
        err_console.print(f"warning: {problem}", markup=False, soft_wrap=True)
    if broken:
        raise typer.Exit(1)

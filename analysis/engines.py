"""The engine registry: a Judge by the name users write in ``analysis.engine``.

The built-in engines come first; installed plugins (``analysis/plugins.py``, entry-point group
``meshroll.engines``) add theirs, and a plugin never takes a built-in's name.
"""

from __future__ import annotations

from collections.abc import Sequence

from analysis.observations import EngineConfig, StepWindow
from analysis.plugins import ENGINES, GROUP, EngineError, PluginError, ambiguity, installed, load_judge, problem_of
from analysis.verdicts import Decision, Judge, Outcome

__all__ = [
    "ENGINE_NAMES",
    "GROUP",
    "EngineError",
    "PluginError",
    "UnavailableJudge",
    "UnknownEngineError",
    "engine_for",
    "engine_names",
    "engine_or_unavailable",
    "engine_problem",
    "plugin_names",
    "plugin_problems",
]

ENGINE_NAMES: tuple[str, ...] = ("sequential", "kayenta", "threshold")
"""The built-in engines."""


class UnknownEngineError(EngineError):
    """The name is no built-in engine and no installed plugin's."""


def plugin_names() -> tuple[str, ...]:
    """The usable plugins' engine names, sorted."""
    return tuple(installed(ENGINE_NAMES).usable)


def engine_names() -> tuple[str, ...]:
    """Every name ``analysis.engine`` accepts here: the built-ins, then the installed plugins."""
    return ENGINE_NAMES + plugin_names()


def plugin_problems() -> tuple[str, ...]:
    """Installed plugins that are ignored (a built-in's name, two with one name, a bad name), one line each."""
    return installed(ENGINE_NAMES).problems


def engine_for(name: str) -> Judge:
    """A fresh engine: ``sequential`` (the default), ``threshold`` (Flagger-style), ``kayenta``, or a plugin's.

    Raises UnknownEngineError for a name nothing answers to, PluginError for a plugin that cannot load.
    """
    key = name.strip().lower()
    if key == "sequential":
        from analysis.sequential import SequentialJudge

        return SequentialJudge()
    if key == "threshold":
        from analysis.threshold import ThresholdJudge

        return ThresholdJudge()
    if key == "kayenta":
        from analysis.kayenta import KayentaJudge  # written alongside; imported only when asked for

        return KayentaJudge()
    plugins = installed(ENGINE_NAMES)
    if key in plugins.usable:
        return load_judge(plugins.usable[key])
    if key in plugins.ambiguous:
        raise UnknownEngineError(ambiguity(key, plugins.ambiguous[key]))
    raise UnknownEngineError(
        f"unknown analysis engine {name!r}: use one of {', '.join(engine_names())}, or install the package "
        f"of the plugin that provides it (entry-point group {GROUP})"
    )


class UnavailableJudge:
    """Stands in for an engine that cannot be had here (a plugin missing from this controller's image) for
    a run already under way: every step is a blocked HOLD that says why, so the run holds its weights and
    spends its failure budget, and can still be aborted, reverted or deleted."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem

    def judge(self, steps: Sequence[StepWindow], config: EngineConfig, *, final: bool = False) -> Decision:
        reason = f"the engine {self.name!r} is not available in this controller ({self.problem})"
        return Decision(Outcome.INCONCLUSIVE if final else Outcome.HOLD, reason, self.name, blocked=not final)


def engine_or_unavailable(name: str) -> Judge:
    """``engine_for(name)``, or an UnavailableJudge saying why it cannot be had."""
    try:
        return engine_for(name)
    except EngineError as exc:
        return UnavailableJudge(name, str(exc))


def engine_problem(name: str) -> str | None:
    """Why ``name`` cannot judge here (not installed, ambiguous, fails to load), or None when it can."""
    if name.strip().lower() in ENGINE_NAMES:
        return None
    return problem_of(ENGINES, name, engine_for)

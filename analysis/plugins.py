"""Engine plugins: judges that other installed packages offer under the entry-point group ``meshroll.engines``.

An entry point names a zero-argument callable (a class or a factory) that returns a Judge. Discovery
reads the installed distributions' metadata (``importlib.metadata``), never the network; a plugin's
module is imported only when its engine is asked for. A plugin judge is wrapped so that it cannot
stop a run (``contained.py``): an exception, a hang, or an answer a run cannot record becomes a HOLD
naming the plugin.
"""

from __future__ import annotations

import functools
import re
import sys
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import cast

from analysis.contained import ContainedJudge, detail, run_contained
from analysis.verdicts import Judge

GROUP = "meshroll.engines"
SOURCE_GROUP = "meshroll.sources"
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$"
"""What an engine may be called: lower-case letters, digits, '-' and '_' (no '@': bench variants use it)."""
NAME_MAX = 63
_NAME = re.compile(NAME_PATTERN)

LOAD_SECONDS = 30.0  # an import and a constructor; a plugin should reach its backend later, when called
_HANG_HINT = "its module or its factory hangs (reaching a backend at start?): connect when called, not when made"
_hung: dict[tuple[str, str], threading.Thread] = {}  # (group, name) -> a load that outlived its time


class EngineError(ValueError):
    """No engine can be had by the name given; the message is one line that says what to do."""


class PluginError(EngineError):
    """An installed plugin could not give its judge or source (import failed, not callable, no such method)."""


@dataclass(frozen=True)
class PluginKind:
    """What a group's plugins give: engines (``judge``) or metric sources (``collect``)."""

    group: str
    noun: str  # as messages name one: "engine", "metric source"
    method: str  # the method the object a plugin's callable returns must have
    signature: str  # that method's, as a message shows it


ENGINES = PluginKind(GROUP, "engine", "judge", "judge(steps, config, *, final=False) -> Decision")
SOURCES = PluginKind(SOURCE_GROUP, "metric source", "collect", "collect(span, metrics) -> dict[str, MetricPair]")


def valid_engine_name(name: str) -> bool:
    return len(name) <= NAME_MAX and _NAME.match(name) is not None


@dataclass(frozen=True)
class Plugin:
    """One entry point of the group: its name, its value (``module:attr``) and the package that declares it."""

    name: str
    value: str
    package: str  # "name version" of the distribution, or "" when the entry point has none
    entry: EntryPoint = field(compare=False, repr=False)

    def where(self) -> str:
        return f"entry point {self.value}" + (f" of {self.package}" if self.package else "")


@dataclass(frozen=True)
class Plugins:
    """The installed plugins: the usable ones by name, the names two of them claim, and every problem found."""

    usable: Mapping[str, Plugin]
    ambiguous: Mapping[str, tuple[Plugin, ...]]
    problems: tuple[str, ...]


def installed(builtin: Collection[str], kind: PluginKind = ENGINES) -> Plugins:
    """The plugins installed where ``sys.path`` looks now (cached per ``sys.path``, so added paths are seen)."""
    return _scan(tuple(sys.path), frozenset(builtin), kind)


@functools.lru_cache(maxsize=8)
def _scan(path: tuple[str, ...], builtin: frozenset[str], kind: PluginKind) -> Plugins:
    del path  # the cache key: entry_points() reads sys.path itself
    by_name: dict[str, list[Plugin]] = {}
    problems: list[str] = []
    noun = kind.noun
    for entry in entry_points(group=kind.group):
        plugin = Plugin(entry.name, entry.value, _package(entry), entry)
        if entry.name in builtin:
            problems.append(
                f"{noun} plugin {entry.name!r} ({plugin.where()}) is ignored: a built-in {noun} has that name; "
                "rename the entry point in the plugin's pyproject.toml"
            )
        elif not valid_engine_name(entry.name):
            problems.append(
                f"{noun} plugin {entry.name!r} ({plugin.where()}) is ignored: {_a(noun)} name is at most {NAME_MAX} "
                "lower-case letters, digits, '-' and '_'; rename the entry point in the plugin's pyproject.toml"
            )
        else:
            by_name.setdefault(entry.name, []).append(plugin)
    usable = {name: found[0] for name, found in by_name.items() if len(found) == 1}
    ambiguous = {name: tuple(found) for name, found in by_name.items() if len(found) > 1}
    problems += [ambiguity(name, found, kind) for name, found in ambiguous.items()]
    return Plugins(dict(sorted(usable.items())), ambiguous, tuple(problems))


def _package(entry: EntryPoint) -> str:
    dist = entry.dist
    return f"{dist.name} {dist.version}" if dist is not None else ""


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def ambiguity(name: str, found: Sequence[Plugin], kind: PluginKind = ENGINES) -> str:
    where = "; ".join(p.where() for p in found)
    return (
        f"{kind.noun} plugins {name!r} are installed {len(found)} times ({where}), so none is used; uninstall all "
        "but one, or rename an entry point"
    )


_usable: set[tuple[str, str, tuple[str, ...]]] = set()  # (group, name, sys.path) of plugins that were made here


def problem_of(kind: PluginKind, name: str, make: Callable[[str], object]) -> str | None:
    """Why ``make(name)`` cannot give a plugin's object here (one line), or None when it can. A plugin made
    once with this ``sys.path`` is not made again: specs are checked at every reconcile and for every
    Experiment waiting for a run slot, and its objects are the runs' to make."""
    key = (kind.group, name.strip().lower(), tuple(sys.path))
    if key in _usable:
        return None
    try:
        make(name)
    except EngineError as exc:
        return str(exc)
    _usable.add(key)
    return None


def load_judge(plugin: Plugin) -> Judge:
    """The plugin's judge, contained (see ContainedJudge); PluginError, one line, when it cannot be had."""
    return ContainedJudge(cast(Judge, load_object(plugin, ENGINES)), plugin.name)


def load_object(plugin: Plugin, kind: PluginKind, *, seconds: float = LOAD_SECONDS) -> object:
    """What the plugin's callable returns, checked to have ``kind.method``; PluginError, one line, when it
    cannot be had. Its import and its callable each run contained (``run_contained``): what they print goes
    to stderr, and one that takes longer than ``seconds`` is a PluginError, as is any later load of that
    plugin while it still runs."""
    about = f"{kind.noun} plugin {plugin.name!r} ({plugin.where()})"
    key = (kind.group, plugin.name)
    if (hung := _hung.get(key)) is not None and hung.is_alive():
        raise PluginError(f"{about} is still loading after more than {seconds:g}s; {_HANG_HINT}")
    factory = _contained(plugin.entry.load, key, about, "import", seconds)
    if not callable(factory):
        raise PluginError(
            f"{about} names an object of type {type(factory).__name__}, not a class or function; point the entry "
            f"point at a zero-argument callable that returns {_a(kind.noun)}"
        )
    made = _contained(factory, key, about, "call", seconds)
    if not callable(getattr(made, kind.method, None)):
        raise PluginError(
            f"{about} returned an object of type {type(made).__name__} without a {kind.method} method; return an "
            f"object with {kind.signature} (docs/plugins.md)"
        )
    return made


def _contained(call: Callable[[], object], key: tuple[str, str], about: str, stage: str, seconds: float) -> object:
    thread, answers, failures = run_contained(call, f"meshroll-load-{key[1]}", seconds)
    if thread.is_alive():
        _hung[key] = thread
        what = "its import" if stage == "import" else "its class or factory"
        raise PluginError(f"{about}: {what} did not return within {seconds:g}s; {_HANG_HINT}")
    if not failures:
        return answers[0]
    exc = failures[0]
    if stage == "import" and isinstance(exc, ImportError | AttributeError):
        hint = "reinstall its package, or fix the entry point's 'module:attr' in its pyproject.toml"
        raise PluginError(f"{about} cannot be loaded: {detail(exc)}; {hint}") from None
    if stage == "import":
        raise PluginError(f"{about} cannot be loaded: its module raised {detail(exc)}; fix the plugin") from None
    hint = (
        "its class or factory must take no arguments"
        if isinstance(exc, TypeError)
        else "fix what it needs at start (its settings, environment variables) or the plugin"
    )
    raise PluginError(f"{about} raised {detail(exc)} when called; {hint}") from None

"""An Argo metric's ``successCondition`` / ``failureCondition`` as meshroll's ``thresholdRange``.

Argo counts a measurement Successful when the success condition holds, Failed when the failure condition
holds, and, when both are given, Inconclusive when neither does, which pauses the rollout for a human.
meshroll has one range: a value outside it is a failed check (engine threshold). The range is the success
condition's, and a note says when a band between the two conditions, Inconclusive in Argo, becomes failed
checks in meshroll.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rollout.importers.documents import DocPath, PeerDocument
from rollout.importers.draft import Draft

_NUMBER = r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_RESULT = r"result(?:\[0\])?"
_COMPARE = re.compile(rf"^{_RESULT}\s*(>=|>|<=|<)\s*{_NUMBER}$")
_COMPARE_REVERSED = re.compile(rf"^{_NUMBER}\s*(>=|>|<=|<)\s*{_RESULT}$")
_FLIPPED = {">=": "<=", ">": "<", "<=": ">=", "<": ">"}
# tests that hold when the query returned no number (joined with ||), or when it returned one (with &&)
_NO_NUMBER = re.compile(rf"^(?:len\(result\)\s*==\s*0|isNaN\({_RESULT}\))$")
_A_NUMBER = re.compile(rf"^(?:len\(result\)\s*(?:>\s*0|!=\s*0|>=\s*1)|!\s*isNaN\({_RESULT}\))$")


@dataclass
class _Accepted:
    """The values a condition lets pass: at least ``low``, at most ``high`` (None: unbounded)."""

    low: float | None = None
    high: float | None = None

    def narrow(self, operator: str, value: float, succeeds: bool) -> None:
        if (operator in (">=", ">")) == succeeds:
            self.low = value if self.low is None else max(self.low, value)
        else:
            self.high = value if self.high is None else min(self.high, value)


def condition_range(draft: Draft, template: PeerDocument, path: DocPath) -> tuple[float | None, float | None]:
    """successCondition / failureCondition of the form ``result[0] OP number`` as an accepted range.

    Guards against an empty or NaN result (``len(result) == 0 || ...``, ``isNaN(result[0]) || ...``,
    ``len(result) > 0 && ...``) are dropped: meshroll holds a step whose query returns no number.
    A success condition may join comparisons with ``&&``, a failure condition with ``||``.
    """
    accepted = {True: _Accepted(), False: _Accepted()}  # by the success condition, and by the failure one
    given: set[bool] = set()
    for field, succeeds in (("successCondition", True), ("failureCondition", False)):
        text = template.get(*path, field)
        if text is None:
            continue
        parsed = _comparisons(str(text), succeeds)
        if parsed is None:
            draft.skip(
                template,
                (*path, field),
                f"condition {text!r}: meshroll checks one number per arm against a range; set thresholdRange by hand",
            )
            continue
        given.add(succeeds)
        if not parsed:
            draft.choose(
                f"{field} {text!r}: meshroll does not judge an empty or NaN result; it holds the step and spends "
                "analysis.failureBudget"
            )
            continue
        for operator, value in parsed:
            accepted[succeeds].narrow(operator, value, succeeds)
        draft.choose(f"{field} {text!r} -> thresholdRange (meshroll's bounds are inclusive; no data holds the step)")
    success, failure = accepted[True], accepted[False]
    low = _tighter(success.low, failure.low, max)
    high = _tighter(success.high, failure.high, min)
    if given == {True, False}:
        _note_inconclusive_band(draft, template, path, success, failure)
    return low, high


def _tighter(a: float | None, b: float | None, pick: Callable[[float, float], float]) -> float | None:
    return b if a is None else a if b is None else pick(a, b)


def _note_inconclusive_band(
    draft: Draft, template: PeerDocument, path: DocPath, success: _Accepted, failure: _Accepted
) -> None:
    """A note when some values meet neither condition: Inconclusive in Argo, failed checks in meshroll."""
    bands: list[str] = []
    wider: list[str] = []
    if success.high is not None and (failure.high is None or failure.high > success.high):
        bands.append(f"above {success.high:g}" + (f" up to {failure.high:g}" if failure.high is not None else ""))
        wider.append(f"max {failure.high:g}" if failure.high is not None else "drop max")
    if success.low is not None and (failure.low is None or failure.low < success.low):
        bands.append(f"below {success.low:g}" + (f" down to {failure.low:g}" if failure.low is not None else ""))
        wider.append(f"min {failure.low:g}" if failure.low is not None else "drop min")
    if not bands:
        return
    kept = ", ".join(f"{k} {v:g}" for k, v in (("min", success.low), ("max", success.high)) if v is not None)
    draft.skip(
        template,
        (*path, "successCondition"),
        f"a value {' or '.join(bands)} meets neither this condition nor the failureCondition: Argo counts it "
        f"Inconclusive, which pauses the rollout for a human; meshroll keeps the success bounds as thresholdRange "
        f"({kept}), so with engine threshold such a value is a failed check that counts toward a rollback: to "
        f"tolerate the band as Argo did, widen thresholdRange to the failure condition's bounds ({', '.join(wider)})",
    )


def _comparisons(text: str, succeeds: bool) -> list[tuple[str, float]] | None:
    """The comparisons of ``result`` with numbers in a condition, without its no-number guards.

    None when the condition is not such a form, or its comparisons do not make one range: a success
    condition's must all hold (``&&``), any of a failure condition's fails (``||``). An empty list when
    the condition only tests for no number (a failure condition ``isNaN(result)``).
    """
    text = text.strip()
    if text.startswith("(") and text.endswith(")") and text.count("(") == 1:
        text = text[1:-1].strip()
    if "||" in text and "&&" in text:
        return None
    joiner = "||" if "||" in text else "&&"
    clauses = [c.strip() for c in text.split(joiner)]
    if len(clauses) == 1 and _NO_NUMBER.match(clauses[0]):
        return None if succeeds else []
    guard = _NO_NUMBER if joiner == "||" else _A_NUMBER
    comparisons: list[tuple[str, float]] = []
    for clause in clauses:
        found = _COMPARE.match(clause)
        flipped = _COMPARE_REVERSED.match(clause)
        if found is not None:
            comparisons.append((found.group(1), float(found.group(2))))
        elif flipped is not None:
            comparisons.append((_FLIPPED[flipped.group(2)], float(flipped.group(1))))
        elif not guard.match(clause):
            return None
    if not comparisons:
        return None
    if len(comparisons) > 1 and joiner != ("&&" if succeeds else "||"):
        return None
    return comparisons

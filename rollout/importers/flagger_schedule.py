"""A Flagger Canary's schedule (``analysis.interval``, weights, iterations, match, mirror) as ``spec.strategy``.

A value of the wrong type or out of range is refused in one line (Flagger's CRD refuses it too), never
replaced by a default: the result is a file you will apply. What is lost in the conversion (a weight
that does not increase, a promotion a mirror-only run does not make) is a note, on stderr too.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from rollout.importers.common import duration, mirror_only, set_deadline, whole_number
from rollout.importers.documents import DocPath, PeerDocument, show_value
from rollout.importers.draft import Draft
from rollout.importers.errors import ImporterError
from rollout.spec.durations import format_duration

DEFAULT_INTERVAL = 60.0  # Flagger's analysis.interval default
PERCENTAGE = "a whole percentage such as 10"


def schedule(draft: Draft, document: PeerDocument) -> None:
    a = ("spec", "analysis")
    interval = duration(document, (*a, "interval"), document.get(*a, "interval"), DEFAULT_INTERVAL, "interval")
    shown = format_duration(interval)
    iterations = whole_number(document, (*a, "iterations"), 0, None, "a whole number of iterations") or 0
    match = document.get(*a, "match")
    mirror = document.get(*a, "mirror") is True
    step_weights = _step_weights(draft, document, (*a, "stepWeights"))
    step_weight = whole_number(document, (*a, "stepWeight"), 1, 100, PERCENTAGE)
    strategy: dict[str, Any] = {}
    planned = 0.0
    if iterations > 0 and match:
        cohort = _cohorts(draft, document, match)
        planned = iterations * interval
        strategy["abTest"] = {"match": cohort, "duration": format_duration(planned), "stepInterval": shown}
        draft.choose(f"strategy.abTest: analysis.match for {iterations} iterations of {shown}")
    elif step_weights is not None:
        strategy["canary"] = {"steps": step_weights, "stepInterval": shown}
        planned = len(step_weights) * interval
    elif step_weight is not None and step_weight >= 100:
        strategy["canary"] = {"steps": [50], "stepInterval": shown}
        planned = interval
        whole_number(document, (*a, "maxWeight"), 1, 100, "maxWeight, a whole percentage")
        draft.skip(
            document,
            (*a, "stepWeight"),
            f"{step_weight}: all traffic in one move leaves stable nothing to compare with; meshroll runs one 50% "
            "step and then promotes",
        )
    elif step_weight is not None:
        max_weight = whole_number(document, (*a, "maxWeight"), 1, 100, "maxWeight, a whole percentage")
        max_weight = 100 if max_weight is None else max_weight  # Flagger's default
        top = max(step_weight, min(max_weight, 99) // step_weight * step_weight)
        if top >= 100:
            top = step_weight
        if top != max_weight:
            draft.choose(f"strategy.canary.maxWeight {top}: meshroll promotes after the last step, below 100")
        strategy["canary"] = {"stepWeight": step_weight, "maxWeight": top, "stepInterval": shown}
        planned = len(range(step_weight, top + 1, step_weight)) * interval
    elif iterations > 0:
        planned = iterations * interval
        if not mirror:
            strategy["canary"] = {"steps": [50], "stepInterval": format_duration(planned)}
            draft.skip(
                document,
                (*a, "iterations"),
                f"blue/green ({iterations} iterations without match): meshroll keeps stable as the baseline, so it "
                "runs one 50% step for the same time and then promotes",
            )
    else:
        raise_missing(document)
    if match and "abTest" not in strategy:
        draft.skip(
            document,
            (*a, "match"),
            "a match without iterations: meshroll imported the weighted steps and routes no cohort; for an A/B "
            "test on these matches give iterations (or write strategy.abTest by hand)",
        )
    if mirror:
        percent = whole_number(document, (*a, "mirrorWeight"), 1, 100, "mirrorWeight, a whole percentage")
        percent = 100 if percent is None else percent  # Flagger's default
        strategy["mirror"] = {"percent": percent}
        if "canary" not in strategy and "abTest" not in strategy:
            strategy["mirror"] |= {"duration": format_duration(planned), "stepInterval": shown}
            draft.skip(
                document,
                (*a, "iterations"),
                f"blue/green with mirroring ({iterations} iterations): {mirror_only(draft, 'Flagger', shown)}",
            )
        draft.choose(f"strategy.mirror: analysis.mirror with {percent}% of requests copied to the canary")
    draft.strategy = strategy
    set_deadline(draft, planned)


def raise_missing(document: PeerDocument) -> NoReturn:
    analysis = document.peek("spec", "analysis")
    for field in ("stepWeight", "maxWeight", "stepWeights", "iterations"):
        if isinstance(analysis, dict) and analysis.get(field) is not None:
            raise ImporterError(
                f"{document.where(('spec', 'analysis', field))}: {show_value(analysis[field])} leaves no schedule; "
                "give stepWeight (with maxWeight), stepWeights, or iterations (with match for an A/B test)"
            )
    raise ImporterError(
        f"{document.where(('spec', 'analysis'))}: required field missing: give stepWeight and maxWeight, "
        "stepWeights, or iterations (with match for an A/B test)"
    )


def _step_weights(draft: Draft, document: PeerDocument, path: DocPath) -> list[int] | None:
    """``stepWeights`` as meshroll's increasing steps below 100 (None: not given), with a note on stderr for
    every weight left out."""
    given = document.get(*path)
    if given is None or given == []:
        return None
    example = "whole percentages such as [5, 10, 25, 50]"
    if not isinstance(given, list):
        raise ImporterError(f"{document.where(path)}: {show_value(given)} is not a list; give {example}")
    for i, weight in enumerate(given):
        if not isinstance(weight, int) or isinstance(weight, bool):
            raise ImporterError(f"{document.where((*path, i))}: {show_value(weight)} is not a number; give {example}")
    steps: list[int] = []
    left_out: list[int] = []
    for weight in given:
        if 0 < weight < 100 and (not steps or weight > steps[-1]):
            steps.append(weight)
        elif weight < 100 or weight != given[-1]:  # a final 100 is what promotion does
            left_out.append(weight)
    if not steps:
        steps = [50]
        why = "no weight from 1 to 99 leaves stable nothing to compare with; meshroll runs one 50% step"
        draft.skip(document, path, f"{show_value(given)} as steps [50]: {why} and then promotes")
    elif left_out:
        draft.skip(
            document,
            path,
            f"{show_value(given)} as steps {show_value(steps)}: meshroll's steps only increase, below 100 (it "
            f"promotes after the last), so {', '.join(map(str, left_out))} "
            f"{'is' if len(left_out) == 1 else 'are'} left out: check the schedule, or write strategy.canary.steps",
        )
    elif steps != given:
        shown = f"stepWeights {show_value(given)} as {show_value(steps)}"
        draft.choose(f"strategy.canary.steps: {shown}: meshroll promotes after the last")
    return steps


def _cohorts(draft: Draft, document: PeerDocument, match: Any) -> list[dict[str, Any]]:
    """Istio HTTPMatchRequests as meshroll matches: headers and query parameters (suffix as a regex)."""
    cohorts: list[dict[str, Any]] = []
    for i, entry in enumerate(match if isinstance(match, list) else []):
        path = ("spec", "analysis", "match", i)
        converted: dict[str, Any] = {}
        for field, key in (("headers", "headers"), ("queryParams", "queryParams")):
            values = document.get(*path, field, default={})
            for header, condition in values.items() if isinstance(values, dict) else []:
                translated = _string_match(condition)
                if translated is None:
                    draft.skip(
                        document,
                        (*path, field, str(header)),
                        f"{show_value(condition)}: meshroll matches exact, prefix, suffix or regex; this condition is "
                        "left out, so the cohort is wider than Flagger's: write it as a regex by hand",
                    )
                    continue
                converted.setdefault(key, {})[str(header)] = translated
        for other in sorted(set(entry) - {"headers", "queryParams"} if isinstance(entry, dict) else []):
            draft.skip(
                document,
                (*path, other),
                f"match on {other}: meshroll matches a cohort by headers, cookies and query parameters only",
            )
        if converted:
            cohorts.append(converted)
    if not cohorts:
        raise ImporterError(
            f"{document.where(('spec', 'analysis', 'match'))}: no header or query-parameter condition to route a "
            "cohort by; meshroll's A/B test needs one"
        )
    return cohorts


def _string_match(condition: Any) -> dict[str, str] | None:
    """An Istio StringMatch as meshroll's (a suffix as a regex); None for any other condition."""
    if isinstance(condition, dict):
        if len(condition) != 1 or isinstance(next(iter(condition.values())), dict | list):
            return None
        for kind in ("exact", "prefix", "regex"):
            if kind in condition:
                return {kind: str(condition[kind])}
        if "suffix" in condition:
            return {"regex": ".*" + re.escape(str(condition["suffix"]))}
        return None
    if isinstance(condition, list) or condition is None:
        return None
    return {"exact": str(condition)}

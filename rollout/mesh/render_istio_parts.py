"""Pieces of a VirtualService that meshroll writes: fault blocks, cohort matches, destinations. Pure."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from chaos.faults import Fault
from chaos.matching import RequestMatch, StringMatch
from rollout.mesh.errors import MeshError

Obj = dict[str, Any]

FAULT_FIELD = "fault"  # the owned-fields mark of the fault meshroll sets on the managed route
MIRROR_FIELD = "mirror"  # and of the mirror it sets there

MIRROR_KEYS = ("mirror", "mirrorPercentage", "mirrors", "mirrorPercent", "mirror_percent")
"""Every field by which an Istio http route mirrors traffic (the last two are deprecated spellings)."""


def duration(milliseconds: float) -> str:
    """A delay as Istio writes durations: ``300ms`` for whole milliseconds, else seconds (``0.0015s``)."""
    micros = round(milliseconds * 1000)
    if micros < 1000:
        raise MeshError(f"a delay of {milliseconds:g}ms is too short: Istio's fixedDelay must be at least 1ms")
    if micros % 1000 == 0:
        return f"{micros // 1000}ms"
    seconds, rest = divmod(micros, 1_000_000)
    return f"{seconds}.{rest:06d}".rstrip("0") + "s"


def _percentage(percent: float) -> Obj:
    # Always explicit: Istio applies a fault without ``percentage`` to no request at all.
    return {"value": float(percent)}


def fault_block(faults: Sequence[Fault], where: str) -> Obj | None:
    """One Istio ``fault`` from faults that share a route: at most one delay and one abort."""
    delays = [f for f in faults if f.delay is not None]
    aborts = [f for f in faults if f.abort is not None]
    for kind, group in (("delay", delays), ("abort", aborts)):
        if len(group) > 1:
            ids = ", ".join(f.id for f in group)
            raise MeshError(
                f"faults {ids} would each {kind} every request of {where}, and an Istio route holds one {kind}: "
                "give all but one of them a match (a cohort), or combine them into one fault"
            )
    block: Obj = {}
    if delays and delays[0].delay is not None:
        delay = delays[0].delay
        block["delay"] = {"fixedDelay": duration(delay.fixed_ms), "percentage": _percentage(delay.percent)}
    if aborts and aborts[0].abort is not None:
        abort = aborts[0].abort
        if (abort.http_status is None) == (abort.grpc_status is None):
            raise MeshError(f"fault {aborts[0].id} needs exactly one of httpStatus or grpcStatus to abort with")
        status: Obj = (
            {"httpStatus": abort.http_status} if abort.http_status is not None else {"grpcStatus": abort.grpc_status}
        )
        block["abort"] = {**status, "percentage": _percentage(abort.percent)}
    return block or None


def shared_fault_block(faults: Iterable[Fault], arms: set[str], label: str) -> Obj | None:
    """The fault block for cohort-free faults on a route whose traffic goes to ``arms``."""
    applicable = []
    for fault in faults:
        if fault.cohort:
            continue
        covered = {arm for arm in arms if fault.arm.covers(arm)}
        if not covered:
            continue  # no request of this route reaches the fault's arm
        if covered != arms:
            raise MeshError(
                f"fault {fault.id} is for the {fault.arm} arm only, but {label} also sends traffic to the other "
                "arm and Istio faults a whole route: give the fault a match (a cohort), or use arm: both"
            )
        applicable.append(fault)
    return fault_block(applicable, label)


def _conditions(pairs: Iterable[tuple[str, StringMatch]], *, lower: bool, what: str) -> Obj:
    rendered: Obj = {}
    for raw_name, match in pairs:
        name = raw_name.lower() if lower else raw_name
        condition = {match.kind.value: match.value}
        if rendered.get(name, condition) != condition:
            raise MeshError(
                f"{what} tests {name!r} twice in one match, and Istio tests each name once per match: "
                "split the conditions into separate matches, or keep one (e.g. one cookie per match)"
            )
        rendered[name] = condition
    return rendered


def istio_match(match: RequestMatch, what: str) -> Obj:
    """A cohort condition set as an Istio ``HTTPMatchRequest`` (header names in lower case, as Istio needs)."""
    rendered: Obj = {}
    headers = _conditions(match.headers, lower=True, what=what)
    query = _conditions(match.query, lower=False, what=what)
    if headers:
        rendered["headers"] = headers
    if query:
        rendered["queryParams"] = query
    return rendered


def merged_matches(route_matches: object, cohort: Sequence[RequestMatch], what: str, route: str) -> list[Obj]:
    """The user's route matches ANDed with the cohort: each of the route's match entries times each cohort.

    A cohort entry thus never catches requests the user's route would not have caught.
    """
    bases = [m for m in route_matches if isinstance(m, dict)] if isinstance(route_matches, list) else []
    result: list[Obj] = []
    for base in bases or [{}]:
        for match in cohort:
            entry = copy.deepcopy(base)
            for section, conditions in istio_match(match, what).items():
                existing = entry.setdefault(section, {})
                for name, condition in conditions.items():
                    if existing.get(name, condition) != condition:
                        raise MeshError(
                            f"{what} tests {name!r}, which {route} already tests differently, and Istio tests "
                            "each name once per match: change the cohort, or the route's match"
                        )
                    existing[name] = condition
            result.append(entry)
    return result


def host_key(host: str, namespace: str) -> tuple[str, ...]:
    """A Service host as ``(name, namespace)`` whether written short, ``name.ns`` or fully qualified."""
    parts = host.split(".")
    if len(parts) == 1:
        return (parts[0], namespace)
    if len(parts) == 2 or parts[2] == "svc":
        return (parts[0], parts[1])
    return (host,)


def destination_like(destination: object, subset: str) -> Obj:
    """A destination for ``subset`` spelled like ``destination`` (same host and port)."""
    source = destination if isinstance(destination, dict) else {}
    result: Obj = {"host": source.get("host")}
    result["subset"] = subset
    if "port" in source:
        result["port"] = copy.deepcopy(source["port"])
    return result

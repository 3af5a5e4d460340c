"""What the renderers share: entry names that carry the owner, and the ownership annotations. Pure.

Ownership scheme (the same for every provider):

- Entries meshroll adds (Istio ``http[]`` routes, Gateway API ``rules[]``) are named
  ``meshroll-ab-<owner>``, ``meshroll-affinity-<owner>`` (the sticky-canary cookie route),
  ``meshroll-stable-affinity-<owner>`` (the cookie route of a pinned stable) and
  ``meshroll-fault-<fault>.<owner>``, where ``<owner>`` is the
  experiment's ``namespace.name``. Namespaces and names are DNS labels (no dots), so the suffix
  names exactly one experiment even when the annotations below are lost.
- The object's annotations record what meshroll holds, so a sweep after a crash finds it:
  ``meshroll.io/owner`` (the experiment's ``namespace/name``), ``meshroll.io/owned-routes`` (or
  ``owned-rules``: a JSON list of the entries above) and ``meshroll.io/owned-fields`` (a JSON list
  of the fields meshroll added to the user's entry, e.g. ``"fault"``, ``"mirror"``, or a
  destination it created). The annotations exist only while meshroll holds something beyond
  weights; once it holds nothing, they are removed and the object's metadata is as the user left it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.faults import FAULT_ROUTE_PREFIX, OWNER_LABEL, Fault
from rollout.mesh.errors import MeshError
from rollout.mesh.plan import TrafficPlan

Obj = dict[str, Any]

OWNER_ANNOTATION = OWNER_LABEL
OWNED_FIELDS_ANNOTATION = "meshroll.io/owned-fields"
AB_ENTRY_PREFIX = "meshroll-ab-"
AFFINITY_ENTRY_PREFIX = "meshroll-affinity-"
# not "meshroll-affinity-stable-": that is also the canary's entry of an experiment in a namespace "stable-..."
STABLE_AFFINITY_ENTRY_PREFIX = "meshroll-stable-affinity-"
MESHROLL_PREFIXES = (AB_ENTRY_PREFIX, AFFINITY_ENTRY_PREFIX, STABLE_AFFINITY_ENTRY_PREFIX, FAULT_ROUTE_PREFIX)


def _label(text: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return slug or "x"


def owner_slug(owner: str) -> str:
    """``shop/checkout-v2`` -> ``shop.checkout-v2``: dot-separated DNS labels, valid as a rule name."""
    return ".".join(_label(part) for part in owner.split("/"))


def ab_entry_name(owner: str) -> str:
    return f"{AB_ENTRY_PREFIX}{owner_slug(owner)}"


def affinity_entry_name(owner: str) -> str:
    return f"{AFFINITY_ENTRY_PREFIX}{owner_slug(owner)}"


def stable_affinity_entry_name(owner: str) -> str:
    return f"{STABLE_AFFINITY_ENTRY_PREFIX}{owner_slug(owner)}"


def fault_entry_name(fault: Fault) -> str:
    """``meshroll-fault-<index>.<owner>``; the index is what follows ``<owner>#`` in the fault's id."""
    key = fault.id.removeprefix(f"{fault.owner}#")
    return f"{FAULT_ROUTE_PREFIX}{_label(key)}.{owner_slug(fault.owner)}"


def is_owned_name(name: object, owner: str) -> bool:
    """Whether an entry's name marks it as added by meshroll for ``owner``."""
    if not isinstance(name, str):
        return False
    return name in (ab_entry_name(owner), affinity_entry_name(owner), stable_affinity_entry_name(owner)) or (
        name.startswith(FAULT_ROUTE_PREFIX) and name.endswith(f".{owner_slug(owner)}")
    )


def is_meshroll_name(name: object) -> bool:
    return isinstance(name, str) and name.startswith(MESHROLL_PREFIXES)


def check_fault_owners(faults: Iterable[Fault], owner: str) -> None:
    for fault in faults:
        if fault.owner != owner:
            raise MeshError(
                f"fault {fault.id} belongs to experiment {fault.owner}, not {owner}; "
                "each experiment applies only its own faults"
            )


@dataclass
class Ownership:
    """What one experiment holds in one object, beyond weights (read from and written to annotations)."""

    owner: str | None = None
    entries: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.entries and not self.fields


def _json_names(text: object) -> list[str]:
    if not isinstance(text, str):
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    return annotations if isinstance(annotations, dict) else {}


def read_ownership(obj: Mapping[str, Any], entries_annotation: str | None) -> Ownership:
    annotations = _annotations(obj)
    owner = annotations.get(OWNER_ANNOTATION)
    return Ownership(
        owner=owner if isinstance(owner, str) else None,
        entries=_json_names(annotations.get(entries_annotation)) if entries_annotation else [],
        fields=_json_names(annotations.get(OWNED_FIELDS_ANNOTATION)),
    )


def claim(
    current: Ownership, owner: str, what: str, *, entries: Iterable[object], live_fields: Iterable[str]
) -> Ownership:
    """The ownership ``owner`` starts from: its own, or a fresh one when another experiment is done.

    Another experiment still holding routes, faults or mirroring in the object (``entries``: the
    names of the object's entries; ``live_fields``: the fault and mirror fields present on the
    managed entry) is a conflict: two experiments must not steer the same route at once. Marks of
    things no longer in the object (removed by hand) block no one. A destination another, finished
    experiment created is not live either: it is now part of the route, and the new owner leaves it.
    """
    if current.owner == owner:
        return current
    present = set(entries)
    held = [e for e in current.entries if e in present] + sorted(set(live_fields).intersection(current.fields))
    if current.owner is not None and held:
        raise MeshError(
            f"{what} is in use by experiment {current.owner} (it holds {', '.join(held)}); "
            "wait until that experiment ends, or delete it so its routes are removed, then retry"
        )
    return Ownership(owner=owner)


def write_ownership(obj: Obj, ownership: Ownership, entries_annotation: str | None) -> None:
    """Record ``ownership`` in ``obj``'s annotations; remove meshroll's annotations when it holds nothing.

    ``entries_annotation`` is None for objects that have no entries of meshroll's (SMI TrafficSplit).
    """
    metadata = obj.setdefault("metadata", {})
    annotations = metadata.get("annotations")
    keys = [key for key in (OWNER_ANNOTATION, entries_annotation, OWNED_FIELDS_ANNOTATION) if key]
    if ownership.empty or ownership.owner is None:
        if isinstance(annotations, dict):
            removed = [annotations.pop(key) for key in keys if key in annotations]
            if removed and not annotations:
                del metadata["annotations"]
        return
    if not isinstance(annotations, dict):
        annotations = metadata["annotations"] = {}
    annotations[OWNER_ANNOTATION] = ownership.owner
    if entries_annotation:
        annotations[entries_annotation] = json.dumps(sorted(set(ownership.entries)))
    annotations[OWNED_FIELDS_ANNOTATION] = json.dumps(sorted(set(ownership.fields)))


def remove_field(ownership: Ownership, name: str) -> None:
    ownership.fields = [f for f in ownership.fields if f != name]


def add_field(ownership: Ownership, name: str) -> None:
    if name not in ownership.fields:
        ownership.fields.append(name)


def set_weights(
    entries: list[Any], stable: Obj, canary: Obj | None, plan: TrafficPlan, ownership: Ownership, stable_field: str
) -> None:
    """Write the stable and canary weights into their entries (destinations, backendRefs, backends).

    A stable entry the user left without a weight, alone in its list, keeps none while it takes all
    the traffic; when meshroll has to add one, it records that (``stable_field``) and removes it
    again once the stable entry is alone at 100%, so the object reads as the user wrote it.
    """
    if canary is None and len(entries) == 1 and plan.stable_weight == 100:
        if "weight" in stable and stable_field in ownership.fields:
            del stable["weight"]
            remove_field(ownership, stable_field)
        elif "weight" in stable:
            stable["weight"] = 100
        return
    if "weight" not in stable:
        add_field(ownership, stable_field)
    stable["weight"] = plan.stable_weight
    if canary is not None:
        canary["weight"] = plan.canary_weight


def weight_of(entry: Obj | None) -> int:
    """An entry's weight as written (0 when it has none, or no entry)."""
    weight = entry.get("weight") if entry is not None else None
    return weight if isinstance(weight, int) and not isinstance(weight, bool) else 0


def other_weighted(entries: list[Any], stable: Obj, canary: Obj | None) -> Obj | None:
    """The first entry other than stable and canary that holds weight (another version serving on this route)."""
    return next(
        (e for e in entries if isinstance(e, dict) and e is not stable and e is not canary and weight_of(e) > 0),
        None,
    )


def revert_beside_others(
    entries: list[Any], stable: Obj, canary: Obj | None, returned: int, ownership: Ownership, stable_field: str
) -> bool:
    """A revert (canary weight 0) on a route where another entry holds weight: the canary's share
    (``returned``, what it held before) goes back to stable, and the others keep theirs. True: done so.

    Writing stable 100 beside them, as a plain revert does, would give traffic back to a version the
    route no longer serves: after v2's promotion (v1 0, v2 100), a refused run of v3 that still names
    v1 as stable, once superseded, deleted or aborted, used to write v1 100 beside v2 100."""
    if other_weighted(entries, stable, canary) is None:
        return False
    if "weight" not in stable:
        add_field(ownership, stable_field)
    stable["weight"] = weight_of(stable) + returned
    if canary is not None:
        canary["weight"] = 0
    return True


def refuse_other_weights(entries: list[Any], stable: Obj, canary: Obj | None, plan: TrafficPlan, label: str) -> None:
    """On Istio and Gateway API stable and canary must hold all the weight (SMI scales them instead): another
    weighted entry (a promoted canary of an earlier Experiment on this route, say) would make the mesh split
    traffic otherwise than the status records. A revert to all stable is never refused."""
    if plan.canary_weight == 0:
        return
    entry = other_weighted(entries, stable, canary)
    if entry is not None:
        weight = weight_of(entry)
        destination = entry.get("destination")
        if isinstance(destination, dict):  # Istio
            name = "/".join(str(destination[k]) for k in ("host", "subset") if destination.get(k))
        else:  # Gateway API backendRef, SMI backend
            name = str(entry.get("name") or entry.get("service") or "?")
        raise MeshError(
            f"{label}: {name} has weight {weight} beside the stable and canary, so their weights would not "
            f"split its traffic as the run says; set it to 0 or remove it (or, if it is the version now serving, "
            "make it spec.target.stable)"
        )

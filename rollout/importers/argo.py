"""Argo Rollouts (``argoproj.io/v1alpha1``): a canary ``Rollout``, its analysis templates, VirtualService, Services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rollout.importers.argo_analysis import settle_failure_threshold, translate_analysis
from rollout.importers.argo_routes import (
    MIRROR_KEPT_ON,
    dropped_mirror,
    header_match,
    mirrors_every_request,
    steady_header_route,
)
from rollout.importers.argo_target import CANARY, target_and_mesh
from rollout.importers.common import (
    Hint,
    duration,
    matched_defaults,
    mirror_only,
    note_leftovers,
    note_namespace,
    operator_command,
    required,
    set_deadline,
    whole_number,
)
from rollout.importers.documents import DocPath, Library, PeerDocument
from rollout.importers.draft import Draft
from rollout.importers.errors import ImporterError
from rollout.importers.metrics import ensure_arm_comparison
from rollout.spec.durations import format_duration

API_VERSION = "argoproj.io/v1alpha1"
DEFAULT_INTERVAL = 60.0
DEFAULT_WEIGHT = 10
NOTIFY_PREFIX = "notifications.argoproj.io/subscribe."
WORKLOAD = "meshroll does not deploy pods; deploy stable and canary as two Deployments, as the note on spec.target says"
SCALING = "meshroll does not scale workloads; remove the old version's Deployment after promotion yourself"
HINTS: list[Hint] = [
    (("spec", "template"), WORKLOAD),
    (("spec", "workloadRef"), WORKLOAD),
    (("spec", "selector"), WORKLOAD),
    (("spec", "replicas"), WORKLOAD),
    (("spec", "revisionHistoryLimit"), WORKLOAD),
    (("spec", "minReadySeconds"), WORKLOAD),
    (("spec", "progressDeadlineSeconds"), "meshroll does not watch ReplicaSets; analysis.maxDuration bounds the run"),
    (("spec", "progressDeadlineAbort"), "meshroll does not watch ReplicaSets; analysis.maxDuration bounds the run"),
    ((*CANARY, "analysis", "startingStep"), "meshroll judges from the first step; start with a small weight instead"),
    ((*CANARY, "scaleDownDelaySeconds"), SCALING),
    ((*CANARY, "scaleDownDelayRevisionLimit"), SCALING),
    ((*CANARY, "abortScaleDownDelaySeconds"), SCALING),
    ((*CANARY, "maxSurge"), SCALING),
    ((*CANARY, "maxUnavailable"), SCALING),
    ((*CANARY, "dynamicStableScale"), SCALING),
    ((*CANARY, "minPodsPerReplicaSet"), SCALING),
    ((*CANARY, "antiAffinity"), WORKLOAD),
    ((*CANARY, "canaryMetadata"), WORKLOAD),
    ((*CANARY, "stableMetadata"), WORKLOAD),
    ((*CANARY, "pingPong"), "meshroll has no ping-pong Services; name each version's Service in spec.target"),
    ((*CANARY, "steps", "*", "setCanaryScale"), "meshroll does not scale pods; size the canary Deployment yourself"),
    ((*CANARY, "steps", "*", "plugin"), "meshroll has no step plugins"),
    (("metadata", "annotations"), "meshroll does not read the Rollout's annotations; drop it"),
]
MATCHED_DEFAULTS: list[tuple[DocPath, Any]] = [(("spec", "paused"), False)]  # meshroll runs what is applied


@dataclass
class _Steps:
    weights: list[int] = field(default_factory=list)
    pauses: list[float] = field(default_factory=list)
    cohorts: list[dict[str, Any]] = field(default_factory=list)
    routes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # setHeaderRoute step -> its matches
    mirror: float | None = None  # the percentage of a mirror of every request (None: no mirror kept)
    mirror_path: DocPath | None = None
    mirror_on: bool = False
    experiment: float | None = None
    experiment_weight: int | None = None
    first_weight_path: DocPath | None = None


def is_rollout(document: PeerDocument) -> bool:
    return document.kind == "Rollout" and document.api_version.startswith("argoproj.io/")


def translate_rollout(document: PeerDocument, library: Library, engine: str) -> Draft:
    name = required(document, ("metadata", "name"), "give the Rollout a metadata.name")
    document.get("metadata", "name")
    if document.peek(*CANARY) is None:
        if document.peek("spec", "strategy", "blueGreen") is not None:
            raise ImporterError(
                f"{document.where(('spec', 'strategy', 'blueGreen'))}: blue/green is not translated: meshroll moves "
                "traffic in steps; rewrite the Rollout with strategy.canary or write the Experiment by hand"
            )
        required(document, CANARY, "meshroll imports canary Rollouts: give spec.strategy.canary")
    draft = Draft(document, "Argo Rollouts Rollout", engine, str(name), document.namespace)
    document.get("metadata", "namespace")
    if document.api_version != API_VERSION:
        draft.skip(
            document,
            ("apiVersion",),
            f"{document.api_version}: meshroll import knows {API_VERSION} and read the Rollout as that version: "
            "check that each field means what it does there",
        )
    labels = document.get("metadata", "labels", default={})
    draft.labels = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
    note_namespace(draft, "Rollout")
    target_and_mesh(draft, document, library)
    taken: set[str] = set()
    steps = _read_steps(draft, document, library, taken)
    _strategy(draft, document, steps)
    if document.peek(*CANARY, "analysis") is not None:
        translate_analysis(draft, document, (*CANARY, "analysis"), library, taken)
        draft.choose("background analysis: its metrics are judged after every step")
    settle_failure_threshold(draft)
    ensure_arm_comparison(draft, taken)
    _notifications(draft, document)
    matched_defaults(document, MATCHED_DEFAULTS)
    if document.peek("spec", "paused") is True:
        draft.skip(
            document,
            ("spec", "paused"),
            "true: apply the Experiment when it may run, or pause its run by hand: "
            f"{operator_command(draft, 'pause')} (meshroll.io/command=resume carries on)",
        )
    note_leftovers(draft, document, HINTS, [("spec",), ("metadata",)])
    return draft


def _read_steps(draft: Draft, document: PeerDocument, library: Library, taken: set[str]) -> _Steps:
    found = _Steps()
    steps = document.peek(*CANARY, "steps", default=[])
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        path = (*CANARY, "steps", i)
        if not isinstance(step, dict) or len(step) != 1:
            continue
        key, body = next(iter(step.items()))
        if key == "setWeight":
            _weight(draft, document, path, body, found)
        elif key == "pause":
            _pause(draft, document, path, body, found)
        elif key == "setHeaderRoute" and isinstance(body, dict):
            found.routes[i] = header_match(draft, document, (*path, key), body.get("match") or [])
            found.cohorts += found.routes[i]
            document.used.add((*path, key))
        elif key == "setMirrorRoute" and isinstance(body, dict):
            _mirror(draft, document, (*path, key), body, found, last=i == len(steps) - 1)
        elif key == "analysis":
            translate_analysis(draft, document, (*path, key), library, taken)
            draft.choose(f"steps[{i}] analysis: its metrics are judged after every step, not only here")
        elif key == "experiment" and isinstance(body, dict):
            found.experiment = duration(document, (*path, key, "duration"), body.get("duration"), 3600.0, "duration")
            templates = body.get("templates")
            weights = [t.get("weight") for t in templates if isinstance(t, dict)] if isinstance(templates, list) else []
            found.experiment_weight = next((w for w in weights if isinstance(w, int) and 0 < w < 100), None)
            analyses = body.get("analyses") or []
            for j in range(len(analyses) if isinstance(analyses, list) else 0):
                translate_analysis(draft, document, (*path, key, "analyses", j), library, taken)
            draft.skip(
                document,
                (*path, key, "templates"),
                "an experiment's baseline and canary ReplicaSets: meshroll compares canary with stable directly",
            )
            document.used.add((*path, key))
    return found


def _weight(draft: Draft, document: PeerDocument, path: DocPath, body: Any, found: _Steps) -> None:
    document.used.add((*path, "setWeight"))
    found.first_weight_path = found.first_weight_path or path
    if not isinstance(body, int) or isinstance(body, bool):
        draft.skip(document, (*path, "setWeight"), "not a whole number")
    elif body >= 100:
        draft.choose(f"setWeight {body}: meshroll promotes after the last step")
    elif body > 0 and (not found.weights or body > found.weights[-1]):
        found.weights.append(body)
    else:
        draft.skip(document, (*path, "setWeight"), f"{body}: meshroll's steps only increase")


def _mirror(
    draft: Draft, document: PeerDocument, path: DocPath, body: dict[str, Any], found: _Steps, last: bool
) -> None:
    """A ``setMirrorRoute``: with a match, a mirror of the requests it takes (kept only when that is every
    request); without one, the mirror removed (Argo's rule: a mirror route always has a match)."""
    document.used.add(path)
    matches = body.get("match")
    if not matches:
        if found.mirror_on and not last:
            draft.skip(document, path, MIRROR_KEPT_ON)
        found.mirror_on = False
        return
    percentage = whole_number(document, (*path, "percentage"), 1, 100, "a whole percentage of the matching requests")
    percentage = 100 if percentage is None else percentage  # Argo's default
    if not mirrors_every_request(matches):
        draft.skip(document, (*path, "match"), dropped_mirror(percentage))
        return
    found.mirror, found.mirror_path, found.mirror_on = percentage, path, True


def _pause(draft: Draft, document: PeerDocument, path: DocPath, body: Any, found: _Steps) -> None:
    value = body.get("duration") if isinstance(body, dict) else None
    if value is None:
        draft.skip(
            document,
            (*path, "pause"),
            "an indefinite pause (a human promotes): meshroll advances on evidence and never waits at a step for "
            f"a human; to hold the canary by hand, pause its run ({operator_command(draft, 'pause')}), then "
            "meshroll.io/command=promote or =resume (or Slack's Pause, Promote and Resume buttons)",
        )
        return
    document.used.add((*path, "pause"))
    found.pauses.append(duration(document, (*path, "pause", "duration"), value, DEFAULT_INTERVAL, "pause"))


def _strategy(draft: Draft, document: PeerDocument, found: _Steps) -> None:
    pauses = sorted(set(found.pauses))
    interval = pauses[-1] if pauses else found.experiment or DEFAULT_INTERVAL
    if len(pauses) > 1:
        draft.choose(
            f"stepInterval {format_duration(interval)}: the pauses differ ({', '.join(map(format_duration, pauses))}); "
            "the longest, so no step is shorter than in Argo"
        )
    elif not pauses:
        draft.choose(f"stepInterval {format_duration(interval)}: no timed pause to take it from")
    shown = format_duration(interval)
    timed = sum(found.pauses) or found.experiment or 10 * DEFAULT_INTERVAL
    strategy: dict[str, Any] = {}
    steps = document.peek(*CANARY, "steps", default=[])
    cohort_step = steady_header_route(steps) if found.cohorts and found.weights else None
    if cohort_step is not None and found.routes.get(cohort_step):
        cohort = {"match": found.routes[cohort_step]}
        strategy["canary"] = {"steps": found.weights, "stepInterval": shown, "cohort": cohort}
        planned = len(found.weights) * interval
        draft.choose(
            f"strategy.canary.cohort: steps[{cohort_step}].setHeaderRoute's match, on across the weighted steps "
            "(the matching requests go to the canary, the others follow the weights)"
        )
    elif found.cohorts:
        strategy["abTest"] = {"match": found.cohorts, "duration": format_duration(timed), "stepInterval": shown}
        planned = timed
        draft.choose("strategy.abTest: the setHeaderRoute matches, for the Rollout's timed pauses")
        if found.weights and found.first_weight_path is not None:
            draft.skip(
                document,
                (*found.first_weight_path, "setWeight"),
                f"weights {found.weights}: the header routes change between the weighted steps (or come before "
                "them), which strategy.canary.cohort cannot follow; write a canary Experiment for them after the A/B "
                "test",
            )
    elif found.weights or found.mirror is None:
        weights = found.weights or [found.experiment_weight or DEFAULT_WEIGHT]
        if not found.weights:
            draft.choose(f"strategy.canary.steps {weights}: the Rollout sets no weight; one step for {shown}")
        strategy["canary"] = {"steps": weights, "stepInterval": shown}
        planned = len(weights) * interval
    else:
        planned = timed
    if found.mirror is not None:
        strategy["mirror"] = {"percent": found.mirror}
        if not strategy.keys() - {"mirror"}:
            strategy["mirror"] |= {"duration": format_duration(timed), "stepInterval": shown}
            draft.skip(document, found.mirror_path or CANARY, mirror_only(draft, "Argo", shown))
        draft.choose(f"strategy.mirror: setMirrorRoute's {found.mirror:g}%")
    draft.strategy = strategy
    set_deadline(draft, planned)


def _notifications(draft: Draft, document: PeerDocument) -> None:
    annotations = document.peek("metadata", "annotations", default={})
    if not isinstance(annotations, dict):
        return
    triggers: list[str] = []
    for key in sorted(annotations):
        value = annotations[key]
        if not str(key).startswith(NOTIFY_PREFIX):
            continue
        trigger, _, service = str(key).removeprefix(NOTIFY_PREFIX).rpartition(".")
        path = ("metadata", "annotations", str(key))
        channels = list(dict.fromkeys(c.strip() for c in str(value).split(";") if c.strip()))
        if service != "slack" or not channels:
            why = f"{service} notifications" if service != "slack" else "no channel"
            draft.skip(document, path, f"{why}: meshroll posts to one Slack channel and spec.notify.webhooks")
            continue
        kept = str(draft.notify["slack"]["channel"]) if "slack" in draft.notify else channels[0]
        draft.notify["slack"] = {"channel": kept}
        dropped = [c for c in channels if c != kept]
        if kept in channels:
            triggers.append(trigger)
            document.used.add(path)
        if dropped:
            draft.skip(
                document,
                path,
                f"channel {', '.join(dropped)}: meshroll posts every event to one Slack channel ({kept}); use "
                "spec.notify.webhooks for other receivers",
            )
    if triggers:
        draft.choose(
            f"spec.notify.slack: the Slack subscriptions ({', '.join(triggers)}); meshroll posts every event of a "
            "run to the channel, not only these triggers, threaded per run"
        )
        draft.skip(
            document,
            ("metadata", "annotations", f"{NOTIFY_PREFIX}{triggers[0]}.slack"),
            "the Slack bot token: Argo reads it from the Secret argo-rollouts-notification-secret (key slack-token); "
            "meshroll reads it from the controller's $SLACK_BOT_TOKEN (the chart's slack.tokenSecret) or from a "
            "Secret in the Experiment's namespace named in spec.notify.slack.tokenSecret (key token): put the "
            "token in one of them",
        )

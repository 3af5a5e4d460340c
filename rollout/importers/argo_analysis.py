"""Argo Rollouts analysis: ``AnalysisTemplate`` / ``ClusterAnalysisTemplate`` metrics as meshroll metrics."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from analysis.templates import TEMPLATE_VARIABLES
from rollout.importers.argo_conditions import condition_range
from rollout.importers.argo_kayenta import kayenta_metric
from rollout.importers.common import Hint, failed_checks, note_leftovers, version_selector
from rollout.importers.documents import DocPath, Library, PeerDocument, format_path, show_value
from rollout.importers.draft import Draft, FailureLimit
from rollout.importers.metrics import gauge_metric, metric_name, substitute

TEMPLATE_KINDS = ("AnalysisTemplate", "ClusterAnalysisTemplate")
VARIABLES = ", ".join(f"{{{{{name}}}}}" for name in sorted(TEMPLATE_VARIABLES))  # what meshroll fills in a query
TEMPLATE_HINTS: list[Hint] = [
    (("spec", "metrics", "*", "interval"), "meshroll measures once per step, over the whole step"),
    (("spec", "metrics", "*", "initialDelay"), "meshroll's first judgement comes one stepInterval after the start"),
    (("spec", "metrics", "*", "count"), "meshroll measures every step until the run ends"),
    (
        ("spec", "metrics", "*", "failureLimit"),
        "failed measurements tolerated: the sequential engine counts no failed checks, it bounds false rollbacks "
        "with analysis.alpha (with --engine threshold, failureLimit N becomes analysis.failureThreshold N+1)",
    ),
    (("spec", "metrics", "*", "inconclusiveLimit"), "meshroll's analysis.onInconclusive decides at maxDuration"),
    (
        ("spec", "metrics", "*", "consecutiveErrorLimit"),
        "query errors hold the step and spend analysis.failureBudget (default 5); set that instead",
    ),
    (("spec", "metrics", "*", "consecutiveSuccessLimit"), "meshroll promotes on proven non-inferiority"),
    (("spec", "metrics", "*", "provider", "prometheus", "timeout"), "set the query timeout on meshroll's flags"),
    (("spec", "metrics", "*", "provider", "prometheus", "headers"), "give headers with --prometheus-header"),
    (("spec", "metrics", "*", "provider", "prometheus", "authentication"), "give credentials to meshroll's flags"),
    (
        ("spec", "metrics", "*", "provider", "prometheus", "rangeQuery"),
        "meshroll queries each step's window itself ({{start}}, {{end}}, {{step}} in templates)",
    ),
    (("spec", "measurementRetention"), "meshroll keeps every decision's numbers in the status history"),
    (("spec", "args"), "arguments the Rollout did not supply; write their values into the query"),
]


def translate_analysis(draft: Draft, document: PeerDocument, path: DocPath, library: Library, taken: set[str]) -> None:
    """Metrics of the templates an analysis block (background, inline step or experiment) references."""
    args = _arguments(draft, document, path)
    if document.peek(*path, "templateName") is not None:  # an experiment's analysis names one template
        refs_at: list[tuple[DocPath, Any]] = [(path, document.get(*path))]
    else:
        refs = document.peek(*path, "templates", default=[])
        refs_at = [((*path, "templates", i), ref) for i, ref in enumerate(refs if isinstance(refs, list) else [])]
    for at, ref in refs_at:
        name = str(ref.get("templateName", "")) if isinstance(ref, dict) else ""
        kinds = ("ClusterAnalysisTemplate",) if isinstance(ref, dict) and ref.get("clusterScope") else TEMPLATE_KINDS
        template = library.find(kinds, name, document.namespace)
        document.used.add(at)
        if template is None:
            draft.lost_metrics.append(f"AnalysisTemplate '{name}'")
            draft.skip(
                document,
                at,
                f"AnalysisTemplate {name!r} is not in the files given; import it together with the Rollout",
            )
            continue
        defaults = template.peek("spec", "args", default=[])
        values = {
            str(a["name"]): str(a["value"])
            for a in (defaults if isinstance(defaults, list) else [])
            if isinstance(a, dict) and "name" in a and "value" in a
        } | args
        template.used.update({("metadata",), ("kind",), ("spec", "args")})
        dry_run = _dry_run_rules(document, (*path, "dryRun")) + _dry_run_rules(template, ("spec", "dryRun"))
        metrics = template.peek("spec", "metrics", default=[])
        for j, metric in enumerate(metrics if isinstance(metrics, list) else []):
            name = str(metric.get("name", "")) if isinstance(metric, dict) else ""
            rule = next((r for r in dry_run if _matches(r[2], name)), None)
            if rule is not None:
                _leave_out_dry_run(draft, template, ("spec", "metrics", j), name, rule)
            else:
                _metric(draft, template, ("spec", "metrics", j), values, taken)
        note_leftovers(draft, template, TEMPLATE_HINTS, [("spec",)])


DryRunRule = tuple[PeerDocument, DocPath, str]  # where it is written, and its metricName (a regular expression)


def _dry_run_rules(document: PeerDocument, path: DocPath) -> list[DryRunRule]:
    """The ``dryRun`` rules at ``path`` (a template's ``spec.dryRun``, or the Rollout's analysis block's)."""
    rules = document.peek(*path, default=[])
    found = [
        (document, (*path, i), str(rule["metricName"]))
        for i, rule in enumerate(rules if isinstance(rules, list) else [])
        if isinstance(rule, dict) and rule.get("metricName") is not None
    ]
    for _, where, _ in found:
        document.used.add(where)
    return found


def _matches(pattern: str, name: str) -> bool:
    """Whether Argo's dryRun rule takes the metric: its metricName is a regular expression searched in the name."""
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return pattern == name


def _leave_out_dry_run(draft: Draft, template: PeerDocument, path: DocPath, name: str, rule: DryRunRule) -> None:
    written, where, _ = rule
    draft.skip(
        template,
        path,
        f"metric {name!r} runs in dry-run mode ({written.kind} {written.name} {format_path(where)}): in Argo its "
        "result never affects the rollout, so it was left out of the Experiment rather than judged live; to see "
        "how it would have judged a release, add it to analysis.metrics of a copy and run `meshroll analyze COPY "
        "--prometheus URL --from -2h` after the fact",
    )


def _arguments(draft: Draft, document: PeerDocument, path: DocPath) -> dict[str, str]:
    """The Rollout's argument values: literals, and the fields meshroll has a variable for."""
    values: dict[str, str] = {}
    args = document.peek(*path, "args", default=[])
    for i, arg in enumerate(args if isinstance(args, list) else []):
        if not isinstance(arg, dict) or "name" not in arg:
            continue
        where = (*path, "args", i)
        document.used.add((*where, "name"))
        if "value" in arg:
            values[str(arg["name"])] = str(document.get(*where, "value"))
            continue
        field = document.get(*where, "valueFrom", "fieldRef", "fieldPath")
        if field == "metadata.namespace":
            values[str(arg["name"])] = "{{namespace}}"
            draft.choose(f"argument {arg['name']} (fieldRef metadata.namespace) -> {{{{namespace}}}}")
        elif field == "metadata.name":
            values[str(arg["name"])] = draft.name
        else:
            draft.skip(
                document,
                (*where, "valueFrom"),
                f"argument '{arg['name']}' comes from the cluster at run time; meshroll fills only {VARIABLES} in "
                "a query: write its value into the query",
            )
    return values


def _metric(draft: Draft, template: PeerDocument, path: DocPath, args: dict[str, str], taken: set[str]) -> None:
    raw = str(template.get(*path, "name", default="metric"))
    provider = template.peek(*path, "provider", default={})
    kind = next(iter(provider), "none") if isinstance(provider, dict) else "none"
    if kind == "kayenta":
        draft.lost_metrics.append(f"metric '{raw}' (Kayenta canary analysis)")
        kayenta_metric(draft, template, path, raw)
        return
    if kind != "prometheus":
        draft.lost_metrics.append(f"metric '{raw}' (provider {kind})")
        draft.skip(template, path, f"metric '{raw}': provider {kind}: meshroll reads Prometheus only")
        return
    query = str(template.get(*path, "provider", "prometheus", "query", default=""))
    address = template.get(*path, "provider", "prometheus", "address")
    if address:
        draft.choose(f"{raw}: its Prometheus {address} is given to meshroll with --prometheus / prometheus.url")

    def value_of(variable: str) -> str | None:
        return args.get(variable.removeprefix("args.")) if variable.startswith("args.") else None

    translated, unresolved = substitute(query, value_of)
    if unresolved or not translated:
        what = ", ".join(sorted(set(unresolved))) or "an empty query"
        draft.lost_metrics.append(f"metric '{raw}'")
        draft.skip(
            template,
            path,
            f"metric {raw!r}: {what} has no value; write the query by hand, with its conditions as thresholdRange",
        )
        return
    low, high = condition_range(draft, template, path)
    name = metric_name(template.name or raw, {t["name"] for t in draft.templates})
    draft.templates.append({"name": name, "kind": "gauge", "value": translated})
    draft.skip(
        template,
        (*path, "provider", "prometheus", "query"),
        "the query measures one selection; meshroll runs it once per arm: add your version label "
        f"(e.g. {version_selector(draft)}) so stable and canary are measured apart",
    )
    draft.metrics.append(gauge_metric(draft, metric_name(raw, taken), name, low, high))
    draft.choose(f"{raw}: AnalysisTemplate {template.name} -> analysis.templates {name} (a gauge: one number per arm)")
    if template.peek(*path, "consecutiveErrorLimit") is None:
        draft.choose(
            "consecutiveErrorLimit not set: Argo aborts the rollout past 4 query errors in a row (its default); "
            "meshroll holds the step instead and spends analysis.failureBudget (5 steps), then analysis.onNoData "
            "decides (hold: the run pauses for an operator)"
        )
    if draft.engine == "threshold":
        _failure_limit(draft, template, path, raw, value_of)


def _failure_limit(
    draft: Draft, template: PeerDocument, path: DocPath, metric: str, value_of: Callable[[str], str | None]
) -> None:
    """A translated metric's ``failureLimit`` (Argo's default 0 when not set), for ``settle_failure_threshold``."""
    given = template.get(*path, "failureLimit")
    limit = given
    if isinstance(given, str):  # an IntOrString: "3", or an argument such as "{{args.limit}}"
        text, unresolved = substitute(given, value_of)
        limit = int(text) if not unresolved and re.fullmatch(r"-?\d+", text) else given
    if given is None:
        draft.failure_limits.append(FailureLimit(template, path, metric, 0, given=False))
    elif isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        draft.failure_limits.append(FailureLimit(template, path, metric, limit, given=True))
    elif limit == -1:
        draft.skip(
            template,
            (*path, "failureLimit"),
            f"-1: Argo never fails the analysis on metric {metric!r}, however many measurements fail; the threshold "
            "engine counts its failed checks like any metric's: remove its thresholdRange to only watch it",
        )
    else:
        draft.skip(
            template,
            (*path, "failureLimit"),
            f"{show_value(given)} is not a number of failed measurements; set analysis.failureThreshold by hand "
            "(failureLimit + 1)",
        )


def settle_failure_threshold(draft: Draft) -> None:
    """``analysis.failureThreshold`` from the metrics' ``failureLimit``: Argo fails the analysis when a metric's
    failed measurements exceed its limit N, the threshold engine rolls back at N+1 failed checks. meshroll keeps
    one count for the run, not one per metric, so the lowest limit decides and a note names the others."""
    if not draft.failure_limits:
        return
    lowest = min(f.limit for f in draft.failure_limits)
    draft.failure_threshold = lowest + 1
    deciding = [f for f in draft.failure_limits if f.limit == lowest]
    names = ", ".join(dict.fromkeys(f.metric for f in deciding))
    if all(f.given for f in deciding):
        draft.choose(
            f"failureLimit {lowest} ({names}) -> analysis.failureThreshold {lowest + 1}: Argo fails the analysis "
            f"when more than {lowest} measurements fail, the threshold engine rolls back at "
            f"{failed_checks(lowest + 1)} (one per step, over the whole step, where Argo measures every interval)"
        )
    else:
        written = "not set" if not any(f.given for f in deciding) else "0 or not set"
        draft.choose(
            f"failureLimit {written} ({names}): Argo's default 0 fails the analysis at the first failed measurement, "
            "so analysis.failureThreshold 1: the threshold engine rolls back at the first failed check (one per step)"
        )
    for higher in draft.failure_limits:
        if higher.limit > lowest:
            draft.skip(
                higher.template,
                (*higher.path, "failureLimit"),
                f"{higher.limit}: meshroll counts failed checks for the whole run, not per metric: "
                f"analysis.failureThreshold is {lowest + 1}, from the lower failureLimit of {names}, so failed "
                f"checks of {higher.metric!r} roll back sooner than Argo would",
            )

"""Rules that span several fields. Each problem comes with the path it belongs to."""

from __future__ import annotations

from rollout.spec.analysis import AnalysisSpec, TemplateSpec
from rollout.spec.chaos import HaltRuleSpec
from rollout.spec.models import Experiment
from rollout.spec.traffic import CanaryStrategySpec

Problem = tuple[tuple[str | int, ...], str]


def cross_check(experiment: Experiment, *, engines_here: bool = True) -> list[Problem]:
    """Every rule that one field alone cannot check, as (path, message) pairs; with ``engines_here``, also that
    ``analysis.engine`` and ``analysis.source`` can be had in this process (a run under way keeps its spec
    valid without that)."""
    from analysis.promql import VARIABLE_NAMES
    from analysis.templates import BUILTIN_TEMPLATES, strip_variables, unknown_variables

    spec = experiment.spec
    problems: list[Problem] = []
    root: tuple[str | int, ...] = ("spec",)
    if spec.strategy is None and spec.chaos is None:
        problems.append((root, "give a strategy (canary, abTest or mirror), or chaos for a chaos-only experiment"))
    if spec.strategy is None and spec.chaos is not None and spec.chaos.duration is None:
        problems.append(((*root, "chaos", "duration"), "a chaos-only experiment needs chaos.duration (e.g. 10m)"))
    if spec.strategy is not None and spec.analysis is None:
        problems.append(((*root, "analysis"), "a release needs analysis with at least one metric"))

    problems += _judgement_cadence(experiment)
    problems += _after(experiment)

    provider = spec.mesh.provider
    if spec.chaos is not None and provider in ("gateway-api", "smi"):
        problems.append(
            (
                (*root, "chaos", "faults"),
                f"fault injection is not part of the {provider} standard; use provider istio or local, "
                "or remove spec.chaos.faults",
            )
        )
    if spec.strategy is not None and spec.strategy.ab_test is not None and provider == "smi":
        problems.append(
            ((*root, "strategy", "abTest"), "SMI TrafficSplit cannot route a cohort; use istio, gateway-api or local")
        )
    if spec.strategy is not None and spec.strategy.mirror is not None and provider == "smi":
        problems.append(
            ((*root, "strategy", "mirror"), "SMI TrafficSplit cannot mirror; use istio, gateway-api or local")
        )
    canary = spec.strategy.canary if spec.strategy is not None else None
    if canary is not None and canary.cohort is not None and provider == "smi":
        problems.append(
            (
                (*root, "strategy", "canary", "cohort"),
                "SMI TrafficSplit cannot match headers, cookies or query parameters to route a cohort; use istio, "
                "gateway-api or local, or remove cohort",
            )
        )
    if canary is not None and canary.session_affinity is not None and provider == "smi":
        problems.append(
            (
                (*root, "strategy", "canary", "sessionAffinity"),
                "SMI TrafficSplit cannot match cookies or set them; use istio, gateway-api or local for a sticky "
                "canary, or remove sessionAffinity",
            )
        )

    if spec.analysis is not None:
        from analysis.engines import engine_problem
        from analysis.metric_sources import source_problem

        if engines_here and (engine := engine_problem(spec.analysis.engine)) is not None:  # plugin not here
            problems.append(((*root, "analysis", "engine"), engine))
        if engines_here and (source := source_problem(spec.analysis.source)) is not None:
            problems.append(((*root, "analysis", "source"), source))
        problems += _failure_threshold(spec.analysis, (*root, "analysis"))
        custom = {t.name: t for t in spec.analysis.templates}
        seen: set[str] = set()
        for i, metric in enumerate(spec.analysis.metrics):
            path = (*root, "analysis", "metrics", i)
            if metric.name in seen:
                problems.append(((*path, "name"), f"metric name {metric.name!r} is used twice; names must be unique"))
            seen.add(metric.name)
            if metric.template not in custom and metric.template not in BUILTIN_TEMPLATES:
                known = ", ".join(sorted([*BUILTIN_TEMPLATES, *custom]))
                problems.append(((*path, "template"), f"unknown template {metric.template!r}; known: {known}"))
            elif metric.absolute_margin is not None and _kind(metric.template, custom) == "gauge":
                problems.append(
                    (
                        (*path, "absoluteMargin"),
                        "absoluteMargin applies to error and latency metrics; a gauge's margin is already in its "
                        "own unit, so set margin instead",
                    )
                )
        names: set[str] = set()
        for i, template in enumerate(spec.analysis.templates):
            if template.name in names:
                problems.append(
                    (
                        (*root, "analysis", "templates", i, "name"),
                        f"template name {template.name!r} is used twice; names must be unique",
                    )
                )
            names.add(template.name)
            if template.unit and template.kind == "errors":
                problems.append(
                    (
                        (*root, "analysis", "templates", i, "unit"),
                        "unit applies to latency and gauge templates (error rates are shares of requests); remove it",
                    )
                )
            for role, query in template.queries().items():
                bad = unknown_variables(query)
                if "{{" in strip_variables(query):
                    problems.append(
                        (
                            (*root, "analysis", "templates", i, role),
                            "a '{{' that starts no variable; write variables as {{service}}, {{version}}, ...",
                        )
                    )
                elif bad:
                    problems.append(
                        (
                            (*root, "analysis", "templates", i, role),
                            f"unknown variable {{{{{bad[0]}}}}}; allowed: {', '.join(VARIABLE_NAMES)}",
                        )
                    )

    if spec.chaos is not None:
        metric_names = {m.name for m in spec.analysis.metrics} if spec.analysis else set()
        for i, rule in enumerate(spec.chaos.halt_when):
            if rule.metric not in metric_names:
                allowed = ", ".join(sorted(metric_names)) or "none defined in spec.analysis.metrics"
                problems.append(
                    (
                        (*root, "chaos", "haltWhen", i, "metric"),
                        f"unknown metric {rule.metric!r}; allowed: {allowed}",
                    )
                )
            elif spec.analysis is not None:
                problems.extend(_halt_bound(spec.analysis, rule, (*root, "chaos", "haltWhen", i)))
        schedule = (
            spec.strategy.canary.schedule if spec.strategy is not None and spec.strategy.canary is not None else None
        )
        canary_takes_traffic = spec.strategy is not None and (
            spec.strategy.canary is not None or spec.strategy.ab_test is not None
        )
        for i, fault in enumerate(spec.chaos.faults):
            if (
                provider == "istio"
                and not fault.match
                and (fault.arm == "canary" or (fault.arm == "stable" and canary_takes_traffic))
            ):
                problems.append(
                    (
                        (*root, "chaos", "faults", i, "arm"),
                        f"Istio applies a fault to every request of a route, so it cannot single out the "
                        f"{fault.arm}'s share of weighted traffic; give the fault a match (a cohort routed to the "
                        f"{fault.arm}), or use arm: both",
                    )
                )
            steps = fault.during.steps if fault.during is not None else None
            if steps is None:
                continue
            for j, weight in enumerate(steps):
                if schedule is None:
                    problems.append(
                        (
                            (*root, "chaos", "faults", i, "during", "steps"),
                            "during.steps needs a canary strategy",
                        )
                    )
                    break
                if weight not in schedule:
                    problems.append(
                        (
                            (*root, "chaos", "faults", i, "during", "steps", j),
                            f"weight {weight} is not a step of the canary schedule {schedule}",
                        )
                    )
    return problems


def _after(experiment: Experiment) -> list[Problem]:
    """``spec.after`` names other Experiments, each once."""
    own = experiment.metadata.namespace
    seen: set[tuple[str, str]] = set()
    problems: list[Problem] = []
    for i, ref in enumerate(experiment.spec.after):
        named = (ref.namespace or own, ref.name)
        if named == (own, experiment.metadata.name):
            problems.append((("spec", "after", i), "an Experiment cannot run after itself; remove this entry"))
        elif named in seen:
            problems.append((("spec", "after", i), f"{named[0]}/{named[1]} is named twice; name it once"))
        seen.add(named)
    return problems


def _failure_threshold(analysis: AnalysisSpec, at: tuple[str | int, ...]) -> list[Problem]:
    """``failureThreshold`` counts the threshold engine's failed checks; no other engine reads it."""
    if analysis.failure_threshold is None or analysis.engine == "threshold":
        return []
    return [
        (
            (*at, "failureThreshold"),
            f"only engine: threshold reads failureThreshold (its failed checks before a rollback), and this "
            f"Experiment's engine is {analysis.engine}: set engine: threshold, or remove failureThreshold",
        )
    ]


def _halt_bound(analysis: AnalysisSpec, rule: HaltRuleSpec, at: tuple[str | int, ...]) -> list[Problem]:
    """An error rate is a proportion: a bound outside 0..1 can never be crossed (``above: 5`` meant 5%)."""
    metric = next(m for m in analysis.metrics if m.name == rule.metric)
    custom = {t.name: t for t in analysis.templates}
    if metric.template not in custom and not _known_builtin(metric.template):
        return []  # an unknown template is reported on its own
    if _kind(metric.template, custom) != "errors":
        return []
    side, bound = ("above", rule.above) if rule.above is not None else ("below", rule.below)
    if bound is None or 0.0 <= bound <= 1.0:
        return []
    return [
        (
            (*at, side),
            f"{bound:g} is outside 0..1: {rule.metric} is an error rate, a proportion (0.05 is 5%), so this rule "
            "could never halt the faults",
        )
    ]


def _known_builtin(template: str) -> bool:
    from analysis.templates import BUILTIN_TEMPLATES

    return template in BUILTIN_TEMPLATES


def _kind(template: str, custom: dict[str, TemplateSpec]) -> str:
    """The kind of metric a (known) template measures: errors, latency or gauge."""
    from analysis.templates import BUILTIN_TEMPLATES

    return custom[template].kind if template in custom else BUILTIN_TEMPLATES[template].kind.value


def _judgement_cadence(experiment: Experiment) -> list[Problem]:
    """The first judgement comes one stepInterval after the start: it must come before the run's deadline."""
    from rollout.spec.durations import format_duration

    strategy, analysis = experiment.spec.strategy, experiment.spec.analysis
    if strategy is None or analysis is None:
        return []
    kinds = (("canary", strategy.canary), ("abTest", strategy.ab_test), ("mirror", strategy.mirror))
    name, chosen = next((n, k) for n, k in kinds if k is not None)
    if isinstance(chosen, CanaryStrategySpec):
        deadline, what = analysis.max_duration, f"analysis.maxDuration {format_duration(analysis.max_duration)}"
    else:
        duration = chosen.duration or 0.0
        deadline = max(analysis.max_duration, duration)
        what = f"the longer of analysis.maxDuration and {name}.duration, {format_duration(deadline)}"
    if chosen.step_interval <= deadline:
        return []
    return [
        (
            ("spec", "strategy", name, "stepInterval"),
            f"stepInterval {format_duration(chosen.step_interval)} is longer than the run may last ({what}): "
            "the first judgement would come after the deadline; shorten stepInterval or raise the deadline",
        )
    ]

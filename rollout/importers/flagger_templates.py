"""Flagger ``MetricTemplate`` queries as meshroll query templates: variables and per-arm names translated."""

from __future__ import annotations

import re
from typing import Any

from rollout.importers.common import version_selector
from rollout.importers.documents import Library, PeerDocument
from rollout.importers.draft import Draft
from rollout.importers.metrics import gauge_metric, metric_name, substitute


def metric_template(
    draft: Draft,
    document: PeerDocument,
    library: Library,
    path: tuple[str | int, ...],
    raw: str,
    low: float | None,
    high: float | None,
    taken: set[str],
) -> dict[str, Any] | None:
    """A metric reading a Flagger MetricTemplate, its query translated into ``analysis.templates`` (None: noted)."""
    ref = str(document.get(*path, "templateRef", "name", default=""))
    namespace = document.get(*path, "templateRef", "namespace", default=document.namespace)
    template_doc = library.find(("MetricTemplate",), ref, namespace)
    if template_doc is None:
        draft.skip(
            document,
            (*path, "templateRef"),
            f"MetricTemplate {ref!r} is not in the files given; import it together with the Canary",
        )
        return None
    variables = document.get(*path, "templateVariables", default={}) or {}
    query = str(template_doc.get("spec", "query", default=""))
    provider = str(template_doc.get("spec", "provider", "type", default="prometheus"))
    if provider != "prometheus":
        draft.skip(template_doc, ("spec", "provider"), f"provider {provider}: meshroll reads Prometheus only")
        return None
    address = template_doc.get("spec", "provider", "address")
    if address:
        draft.choose(f"{raw}: its Prometheus {address} is given to meshroll with --prometheus / prometheus.url")
    for extra in ("secretRef", "insecureSkipVerify"):
        if template_doc.get("spec", "provider", extra) is not None:
            draft.skip(template_doc, ("spec", "provider", extra), "give Prometheus credentials to meshroll's flags")
    names = {"namespace": "{{namespace}}", "target": "{{service}}", "name": "{{service}}", "service": "{{service}}"}
    names |= {"interval": "{{window}}", "version": "{{version}}"}  # version: only as _arm_names writes it

    def value_of(variable: str) -> str | None:
        if variable.startswith("variables.") and isinstance(variables, dict):
            found = variables.get(variable.removeprefix("variables."))
            return None if found is None else str(found)
        return names.get(variable)

    per_arm = arm_names(query, target=str(document.peek("spec", "targetRef", "name")), service=draft.target["service"])
    translated, unresolved = substitute(per_arm, value_of)
    if unresolved or not translated:
        what = ", ".join(sorted(set(unresolved))) or "an empty query"
        draft.skip(template_doc, ("spec", "query"), f"{what}: meshroll has no such variable; write the query by hand")
        return None
    template = metric_name(ref, {t["name"] for t in draft.templates})
    draft.templates.append({"name": template, "kind": "gauge", "value": translated})
    if per_arm != query:
        draft.choose(
            f"{ref}: the query's {{{{ target }}}}-canary / -primary became {{{{service}}}}-{{{{version}}}}, so "
            "meshroll measures each arm under its own name (versions primary and canary, as Flagger named them)"
        )
    if "{{version}}" not in translated:
        draft.skip(
            template_doc,
            ("spec", "query"),
            "the query measures one workload ({{ target }} became {{service}}); meshroll runs it once per arm: add "
            f"your version label (e.g. {version_selector(draft)}) so stable and canary are measured apart",
        )
    template_doc.used.update({("spec",), ("metadata",)})
    draft.choose(f"{raw}: MetricTemplate {ref} -> analysis.templates {template} (a gauge: one number per arm)")
    return gauge_metric(draft, metric_name(raw, taken), template, low, high)


ARM_NAME = re.compile(r"{{\s*(target|service)\s*}}(-primary|-canary)?(?![A-Za-z0-9])")


def arm_names(query: str, target: str, service: str) -> str:
    """``{{ target }}-canary`` (or ``-primary``; Flagger's Service names) as ``{{service}}-{{version}}``.

    Flagger hard-codes the arm in such a query; meshroll runs a template once per arm, so the name
    must follow the arm. Only when every use names the same arm (a query comparing the two, or
    naming the canary's workload bare, stays as it is), and ``{{ target }}`` only when it is the
    service's name.
    """
    found = list(ARM_NAME.finditer(query))
    suffixes = {f.group(2) for f in found}
    if len(suffixes) != 1 or None in suffixes:
        return query
    if any(f.group(1) == "target" for f in found) and target != service:
        return query
    return ARM_NAME.sub("{{service}}-{{version}}", query)


def inline_query(
    draft: Draft,
    document: PeerDocument,
    path: tuple[str | int, ...],
    raw: str,
    low: float | None,
    high: float | None,
    taken: set[str],
) -> dict[str, Any] | None:
    """A legacy metric with its PromQL inline (``query:``, which Flagger runs as written) as a template of
    ``analysis.templates`` (None: noted)."""
    query = str(document.get(*path, "query") or "").strip()
    if not query or "{{" in query:
        why = "an empty query" if not query else "a query with placeholders Flagger never filled in an inline query"
        draft.skip(document, (*path, "query"), f"{why}: write the template in analysis.templates by hand")
        return None
    template = metric_name(raw, {t["name"] for t in draft.templates})
    draft.templates.append({"name": template, "kind": "gauge", "value": query})
    draft.skip(
        document,
        (*path, "query"),
        "the query measures one selection; meshroll runs it once per arm: add your version label "
        f"(e.g. {version_selector(draft)}) so stable and canary are measured apart",
    )
    draft.choose(
        f"{raw}: its inline query (Flagger's legacy form) -> analysis.templates {template} (a gauge: one number "
        "per arm)"
    )
    return gauge_metric(draft, metric_name(raw, taken), template, low, high)

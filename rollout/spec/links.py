"""Links shown with every notification (a dashboard, the logs, a runbook): URL templates with placeholders.

A placeholder is a name in braces, ``{service}``; ``{{`` and ``}}`` stand for a literal brace. The
values come from the run (``rollout/notify/links.py`` fills them in); here only the template's
shape is checked, so a typo is refused by ``meshroll validate`` and not found in a Slack message.
"""

from __future__ import annotations

from string import Formatter

LINK_PLACEHOLDERS: dict[str, str] = {
    "namespace": "the Experiment's namespace",
    "name": "the Experiment's name",
    "service": "spec.target.service",
    "stable": "the stable version",
    "canary": "the canary version",
    "start": "the run's start, in epoch milliseconds (Grafana's from=)",
    "end": "the run's end in epoch milliseconds, or now while it runs (Grafana's to=)",
    "commit": "the commit that started the run (GitOps), or empty",
}


def placeholders(template: str) -> list[str]:
    """The placeholder names in ``template``; ValueError with the fix for a malformed or unknown one."""
    try:
        parsed = [(field, spec, conversion) for _, field, spec, conversion in Formatter().parse(template)]
    except ValueError:
        raise ValueError(
            "the URL has an unmatched brace; write a placeholder as {service}, a literal brace as {{ or }}"
        ) from None
    names = []
    for field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in LINK_PLACEHOLDERS:
            known = ", ".join("{" + name + "}" for name in LINK_PLACEHOLDERS)
            raise ValueError(f"{{{field}}} is not a placeholder; use one of {known}")
        if spec or conversion:
            raise ValueError(f"{{{field}}} takes no format or conversion; write it as {{{field}}}")
        names.append(field)
    return names

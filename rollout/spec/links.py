"""Links shown with every notification (a dashboard, the logs, a runbook): URL templates with placeholders.

A placeholder is a name in braces, ``{service}``; ``{{`` and ``}}`` stand for a literal brace. The
values come from the run (``rollout/notify/links.py`` fills them in); here only the template's
shape is checked, so a typo is refused by ``meshroll validate`` and not found in a Slack message.
"""

from __future__ import annotations

import re
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


NAME_MAX = 40
URL_MAX = 2000
LINKS_MAX = 5
URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s|<>]*$"
_UNSAFE = {" ": "%20", "|": "%7C", "<": "%3C", ">": "%3E"}


def link_name(name: str) -> str:
    """The link's text, checked: not blank, at most NAME_MAX characters."""
    if not name.strip():
        raise ValueError("the link's name is blank; write the text to show, e.g. Grafana")
    if len(name) > NAME_MAX:
        raise ValueError(f"the link's name has {len(name)} characters; keep it to {NAME_MAX}")
    return name


def link_url(url: str) -> str:
    """A URL template, checked: http(s), no character that would break a chat link, known placeholders."""
    if re.match(r"(?i)https?://", url) is None:
        raise ValueError(f"a link is an http:// or https:// URL template, not {url[:40]!r}")
    if len(url) > URL_MAX:
        raise ValueError(f"the URL has {len(url)} characters; keep it to {URL_MAX}")
    if (bad := re.search(r"[\s|<>]", url)) is not None:
        char = bad.group()
        shown = _UNSAFE.get(char, f"%{ord(char):02X}") if ord(char) < 128 else "percent-encoded"
        raise ValueError(
            f"the URL has {char!r} at character {bad.start() + 1}, which would break the link in a chat message; "
            f"write it as {shown}"
        )
    placeholders(url)
    return url

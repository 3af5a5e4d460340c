"""A Flagger Canary's alerts (through its AlertProviders) as ``spec.notify.slack``, and what its webhooks and
manual gates become: notes naming meshroll's own operator commands (``meshroll.io/command``, Slack buttons)."""

from __future__ import annotations

from typing import Any

from rollout.importers.common import Hint, note_leftovers, operator_command
from rollout.importers.documents import Library, PeerDocument, show_value
from rollout.importers.draft import Draft

SEVERITIES = {"warn": "warnings and errors", "error": "errors"}  # info, Flagger's default, posts every event
PROVIDER_HINTS: list[Hint] = [
    (
        ("spec", "username"),
        "meshroll posts as the Slack app of its bot token, or under the name the incoming webhook was made with; "
        "set the name there",
    ),
    (
        ("spec", "proxy"),
        "meshroll's Slack client takes its proxy from the environment of the process running the Experiment: set "
        "HTTPS_PROXY for the controller (the chart's extraEnv) or for meshroll run",
    ),
]


def alerts(draft: Draft, document: PeerDocument, library: Library) -> None:
    entries = document.peek("spec", "analysis", "alerts", default=[])
    for i, alert in enumerate(entries if isinstance(entries, list) else []):
        path = ("spec", "analysis", "alerts", i)
        document.get(*path, "providerRef")
        ref = str(document.get(*path, "providerRef", "name", default=""))
        namespace = document.get(*path, "providerRef", "namespace", default=document.namespace)
        document.get(*path, "name")
        provider = library.find(("AlertProvider",), ref, namespace)
        label = f"alert {alert.get('name', ref)!r}" if isinstance(alert, dict) else "alert"
        if provider is None:
            draft.skip(document, path, f"{label}: AlertProvider {ref!r} is not in the files given; import it too")
            continue
        kind = provider.get("spec", "type")
        if kind != "slack" or "slack" in draft.notify:
            why = "meshroll posts to one Slack channel" if kind == "slack" else f"meshroll cannot post to {kind}"
            draft.skip(document, path, f"{label} ({kind}): {why}; use spec.notify.webhooks for other receivers")
            continue
        _severity(draft, document, (*path, "severity"))
        _slack(draft, provider, library)
        draft.choose(f"spec.notify.slack: {label} through AlertProvider {ref}")


def _severity(draft: Draft, document: PeerDocument, path: tuple[str | int, ...]) -> None:
    severity = document.get(*path)
    if severity is None or severity == "info":
        return  # Flagger posts every event: as meshroll does
    posted = SEVERITIES.get(str(severity), f"events of severity {show_value(severity)}")
    draft.skip(
        document,
        path,
        f"{show_value(severity)}: Flagger posted only {posted} to this channel; meshroll posts every event of a run "
        "there (its start, every step and hold, and its end), threaded per run: point it at a channel that may "
        "take them all, or send the events to spec.notify.webhooks and filter them there",
    )


def _slack(draft: Draft, provider: PeerDocument, library: Library) -> None:
    """The Slack AlertProvider's channel and webhook Secret as ``spec.notify.slack``, with what else it held."""
    provider.used.update({("metadata",), ("kind",)})
    slack: dict[str, Any] = {"channel": str(provider.get("spec", "channel", default=""))}
    secret = provider.get("spec", "secretRef", "name")
    here = draft.namespace or "default"
    if secret:
        slack["webhookSecret"] = secret
        provider.get("spec", "address")  # Flagger ignores the address when a Secret gives one
        elsewhere = provider.namespace not in (None, here)
        draft.skip(
            provider,
            ("spec", "secretRef"),
            f"Secret {secret}: meshroll reads the webhook URL from its key 'url' (Flagger reads 'address'), in the "
            f"Experiment's namespace {here}"
            + (
                f", not in {provider.namespace} where this AlertProvider and its Secret are: copy the Secret to "
                f"namespace {here}"
                if elsewhere
                else ""
            )
            + " with the key url, and let the controller read it (the chart's secretNames)",
        )
        secret_document = library.find(("Secret",), str(secret), provider.namespace)
        if secret_document is not None:
            secret_document.used.add(("data",))
    elif provider.get("spec", "address"):
        draft.skip(
            provider,
            ("spec", "address"),
            f"put the webhook URL in a Secret in namespace {here} (key url) and name it in "
            "spec.notify.slack.webhookSecret",
        )
    note_leftovers(draft, provider, PROVIDER_HINTS, [("spec",)])
    draft.notify["slack"] = {k: v for k, v in slack.items() if v}


def webhook_hints(draft: Draft) -> dict[str, str]:
    """What each type of Flagger webhook becomes with meshroll; its manual gates name meshroll's commands."""
    pause, abort = operator_command(draft, "pause"), operator_command(draft, "abort")
    return {
        "confirm-rollout": "a manual gate before the start: a meshroll run starts when the Experiment is applied, so "
        "apply (or commit) it when ready",
        "pre-rollout": "run this check in your pipeline before the Experiment is applied",
        "rollout": "meshroll judges real traffic; if the service has too little, run the load generator yourself",
        "confirm-traffic-increase": "a manual gate per step: meshroll advances on evidence (analysis.stepGate: "
        f"non-inferiority makes each step wait for proof); to hold a step by hand: {pause}, then "
        "meshroll.io/command=resume (or Slack's Pause and Resume buttons)",
        "confirm-promotion": "a manual gate before promotion: meshroll promotes on evidence and minRequests; to "
        f"decide by hand, pause the run ({pause}) and promote it with meshroll.io/command=promote (or Slack's "
        "Pause and Promote buttons)",
        "post-rollout": "spec.notify.webhooks receives every event as JSON; act on the final one there",
        "rollback": f"meshroll rolls back on evidence; to roll back by hand: {abort} (or Slack's Abort button)",
        "event": "spec.notify.webhooks posts every event as JSON (meshroll's own payload); point it at a receiver",
    }


def webhooks(draft: Draft, document: PeerDocument) -> None:
    hooks = document.get("spec", "analysis", "webhooks", default=[])
    hints = webhook_hints(draft)
    for i, hook in enumerate(hooks if isinstance(hooks, list) else []):
        kind = str(hook.get("type", "rollout")) if isinstance(hook, dict) else "rollout"
        name = hook.get("name", "") if isinstance(hook, dict) else ""
        hint = hints.get(kind, "meshroll has no webhooks of this type")
        draft.skip(document, ("spec", "analysis", "webhooks", i), f"{kind} webhook {name!r}: {hint}")


def suspended(draft: Draft, document: PeerDocument) -> None:
    """``spec.suspend: true``: Flagger leaves the Canary alone; meshroll's run can be paused by hand."""
    if document.peek("spec", "suspend") is True:
        draft.skip(
            document,
            ("spec", "suspend"),
            "true: Flagger does not run a suspended Canary; apply the Experiment when it may run, or pause its run "
            f"by hand: {operator_command(draft, 'pause')} (meshroll.io/command=resume carries on)",
        )

"""An Argo metric judged by Kayenta: its canary config lives in Kayenta, so only notes come of it."""

from __future__ import annotations

from typing import Any

from rollout.importers.documents import DocPath, PeerDocument, show_value
from rollout.importers.draft import Draft


def kayenta_metric(draft: Draft, template: PeerDocument, path: DocPath, raw: str) -> None:
    """Notes for a ``provider: kayenta`` metric: the judge and its score thresholds."""
    settings = template.peek(*path, "provider", "kayenta", default={})
    settings = settings if isinstance(settings, dict) else {}
    draft.skip(
        template,
        path,
        f"metric '{raw}': Kayenta canary config '{settings.get('canaryConfigName', '')}' lives in Kayenta, not in "
        "these files, so its metrics cannot be imported; meshroll's engine kayenta ports Kayenta's judge "
        "(Mann-Whitney): to judge by it, list the config's metrics under analysis.metrics and change "
        "analysis.engine to kayenta by hand (meshroll import writes sequential or threshold Experiments only)",
    )
    thresholds = settings.get("thresholds")
    if thresholds is not None:
        draft.skip(template, (*path, "provider", "kayenta", "thresholds"), _thresholds(thresholds))


def _thresholds(given: Any) -> str:
    """What meshroll's engine kayenta does with the score instead of Argo's ``pass`` / ``marginal``."""
    from analysis.engines import engine_for
    from analysis.kayenta import KayentaJudge

    judge = engine_for("kayenta")
    fixed = judge.thresholds if isinstance(judge, KayentaJudge) else KayentaJudge().thresholds
    ours = (
        f"its thresholds are fixed at pass {fixed.pass_score:g} and marginal {fixed.marginal:g}: it advances at a "
        f"score of {fixed.pass_score:g} or more, rolls back at {fixed.marginal:g} or less and holds between"
    )
    if not isinstance(given, dict) or not {"pass", "marginal"} <= given.keys():
        return f"{show_value(given)}: meshroll's engine kayenta does not read score thresholds; {ours}"
    low, high = show_value(given["marginal"]), show_value(given["pass"])
    return (
        f"pass {high}, marginal {low}: meshroll's engine kayenta does not read them; {ours} (Argo passed a score "
        f"of {high} or more, found one from {low} inconclusive and failed one below {low})"
    )

"""The engine registry: a Judge by the name users write in ``analysis.engine``."""

from __future__ import annotations

from analysis.verdicts import Judge

ENGINE_NAMES: tuple[str, ...] = ("sequential", "kayenta", "threshold")


class UnknownEngineError(ValueError):
    """The name is none of ENGINE_NAMES."""


def engine_for(name: str) -> Judge:
    """A fresh engine: ``sequential`` (the default), ``threshold`` (Flagger-style) or ``kayenta``."""
    key = name.strip().lower()
    if key == "sequential":
        from analysis.sequential import SequentialJudge

        return SequentialJudge()
    if key == "threshold":
        from analysis.threshold import ThresholdJudge

        return ThresholdJudge()
    if key == "kayenta":
        from analysis.kayenta import KayentaJudge  # written alongside; imported only when asked for

        return KayentaJudge()
    raise UnknownEngineError(f"unknown analysis engine {name!r}: use one of {', '.join(ENGINE_NAMES)}")

"""An exact port of Kayenta's NetflixACAJudge, and the engine that runs it on meshroll's steps."""

from analysis.kayenta.engine import KayentaJudge

__all__ = ["KayentaJudge"]

"""The default engine: anytime-valid e-processes and confidence sequences (stats.md §5)."""

from analysis.sequential.engine import SequentialJudge, config_problems, rollback_levels

__all__ = ["SequentialJudge", "config_problems", "rollback_levels"]

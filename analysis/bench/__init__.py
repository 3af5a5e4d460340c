"""A replay benchmark of decision engines (``meshroll bench analysis``).

Synthetic (or recorded) canaries are replayed through every engine at identical decision times;
the measures follow stats.md §5.6. Entry points: ``run_bench`` and ``format_markdown``.
"""

from analysis.bench.report import format_markdown, result_to_json
from analysis.bench.runner import DEFAULT_ENGINES, DEFAULT_REPLAYS, BenchPlan, BenchResult, run_bench
from analysis.bench.scenario_io import ScenarioFormatError

__all__ = [
    "DEFAULT_ENGINES",
    "DEFAULT_REPLAYS",
    "BenchPlan",
    "BenchResult",
    "ScenarioFormatError",
    "format_markdown",
    "result_to_json",
    "run_bench",
]

"""Effect sizes: the mean ratio (Kayenta's default gate), CLES and Cohen's d."""

from __future__ import annotations

import math

import numpy as np

from analysis.kayenta.arrays import FloatArray
from analysis.kayenta.descriptive import mean, sample_variance
from analysis.kayenta.mannwhitney import average_ranks


def mean_ratio(control: FloatArray, experiment: FloatArray) -> float:
    """mean(experiment) / mean(control); NaN when either mean is 0 (or undefined)."""
    control_mean = mean(control)
    experiment_mean = mean(experiment)
    if control_mean == 0.0 or experiment_mean == 0.0 or math.isnan(control_mean):
        return math.nan
    with np.errstate(all="ignore"):
        return float(np.float64(experiment_mean) / np.float64(control_mean))


def cles(control: FloatArray, experiment: FloatArray) -> float:
    """The common-language effect size P(E > C) + P(E = C)/2, from average ranks."""
    m, n = len(experiment), len(control)
    if m == 0 or n == 0:
        return math.nan
    ranks = average_ranks(np.concatenate([experiment, control]))
    rank_sum = float(np.sum(ranks[:m]))
    return (2.0 * rank_sum - m * (m + 1)) / (2.0 * n * m)


def cohen_d(control: FloatArray, experiment: FloatArray) -> float:
    """|mean difference| / pooled sample standard deviation."""
    n1, n2 = len(control), len(experiment)
    if n1 + n2 <= 2:
        return math.nan
    pooled = ((n1 - 1) * sample_variance(control) + (n2 - 1) * sample_variance(experiment)) / (n1 + n2 - 2)
    if pooled <= 0.0:
        return math.nan
    return abs(mean(experiment) - mean(control)) / math.sqrt(pooled)

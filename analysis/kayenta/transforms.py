"""Preprocessing of each arm before classification."""

from __future__ import annotations

import numpy as np

from analysis.kayenta.arrays import FloatArray
from analysis.kayenta.detectors import OutlierDetector
from analysis.kayenta.javarandom import GaussianSource, normal_samples


def remove_nan(values: FloatArray) -> FloatArray:
    """The values without NaN, in order."""
    return values[~np.isnan(values)]


def replace_nan(values: FloatArray, replacement: float = 0.0) -> FloatArray:
    """The values with every NaN replaced."""
    return np.where(np.isnan(values), replacement, values)


def remove_outliers(values: FloatArray, detector: OutlierDetector) -> FloatArray:
    """The values the detector does not flag, in order."""
    flags = np.array(detector.detect(values), dtype=bool)
    return values[~flags] if len(values) else values


def add_gaussian_noise(values: FloatArray, mean: float, stdev: float, source: GaussianSource) -> FloatArray:
    """Each value plus an independent Normal(mean, stdev) draw."""
    noise = np.array(normal_samples(source, mean, stdev, len(values)), dtype=np.float64)
    return values + noise

"""Oracle checks for the statistics: Mann-Whitney, quantiles, effect sizes, detectors, transforms."""

from __future__ import annotations

from analysis.kayenta.arrays import to_array
from analysis.kayenta.brent import brent_solve
from analysis.kayenta.descriptive import percentile, summary_stats
from analysis.kayenta.detectors import IQRDetector, KSigmaDetector, OutlierDetector
from analysis.kayenta.effect import cles, cohen_d, mean_ratio
from analysis.kayenta.mannwhitney import mann_whitney_ci, normal_quantile, wilcoxon_diff, wilcoxon_diff_at
from analysis.kayenta.oracle_checks import KindCheck, Mismatches, tolerance
from analysis.kayenta.oracle_fields import Fields
from analysis.kayenta.transforms import remove_nan, remove_outliers


def check_mann_whitney_ci(case: Fields) -> Mismatches:
    expected, found = case.child("expected"), Mismatches()
    x, y = to_array(case.numbers("experiment")), to_array(case.numbers("control"))
    result = mann_whitney_ci(x, y, case.child("params").number("confidenceLevel"))
    ci_tol = tolerance(expected, "abs_tol_ci")
    found.near("ci_lower", expected.number("ci_lower"), result.lower, ci_tol)
    found.near("ci_upper", expected.number("ci_upper"), result.upper, ci_tol)
    found.near("estimate", expected.number("estimate"), result.estimate, tolerance(expected, "abs_tol_estimate"))
    return found


def check_mann_whitney_intermediate(case: Fields) -> Mismatches:
    """Each intermediate value; the solver is called directly, without the endpoint checks."""
    expected, found = case.child("expected"), Mismatches()
    tol = tolerance(expected, "abs_tol")
    x, y = to_array(case.numbers("experiment")), to_array(case.numbers("control"))
    alpha = 1.0 - case.child("params").number("confidenceLevel")
    mu_min, mu_max = float(x.min() - y.max()), float(x.max() - y.min())
    zq_lower, zq_upper = -normal_quantile(alpha / 2), normal_quantile(alpha / 2)
    got = {"muMin": mu_min, "muMax": mu_max, "zqLower": zq_lower, "zqUpper": zq_upper}
    for zq, lower_key, upper_key, root_key in (
        (zq_lower, "fLower1", "fUpper1", "ciLower"),
        (zq_upper, "fLower2", "fUpper2", "ciUpper"),
        (0.0, None, None, "estimate"),
    ):
        f_lower, f_upper = wilcoxon_diff(mu_min, zq, x, y), wilcoxon_diff(mu_max, zq, x, y)
        if lower_key and upper_key:
            got[lower_key], got[upper_key] = f_lower, f_upper
        got[root_key] = brent_solve(mu_min, mu_max, f_lower, f_upper, wilcoxon_diff_at(zq, x, y))
    for key, value in got.items():
        found.near(key, expected.number(key), value, tol)
    return found


def check_wilcoxon_diff(case: Fields) -> Mismatches:
    expected, found = case.child("expected"), Mismatches()
    x, y = to_array(case.numbers("experiment")), to_array(case.numbers("control"))
    values = expected.numbers("values")
    calls = case.child("params").children("calls")
    if len(calls) != len(values):
        expected.fail("values", f"has {len(values)} entries for {len(calls)} calls")
    for call, value in zip(calls, values, strict=True):
        mu, zq = call.number("mu"), call.number("quantile")
        found.near(f"wilcoxonDiff({mu:g}, {zq:g})", value, wilcoxon_diff(mu, zq, x, y), tolerance(expected, "abs_tol"))
    return found


def check_normal_quantile(case: Fields) -> Mismatches:
    expected, found = case.child("expected"), Mismatches()
    p = case.child("params").number("p")
    found.near(f"quantile({p:g})", expected.number("value"), normal_quantile(p), tolerance(expected, "abs_tol"))
    return found


def check_effect_size(case: Fields) -> Mismatches:
    expected, found = case.child("expected"), Mismatches()
    control, experiment = to_array(case.numbers("control")), to_array(case.numbers("experiment"))
    measures = {"meanRatio": mean_ratio, "cles": cles, "cohenD": cohen_d}
    measure = case.child("params").string("measure")
    if measure not in measures:
        case.child("params").fail("measure", f"is not one of {', '.join(measures)}")
    got = measures[measure](control, experiment)
    found.near(measure, expected.number("value"), got, tolerance(expected, "abs_tol"))
    return found


def check_percentile(case: Fields) -> Mismatches:
    found = Mismatches()
    values = to_array(case.numbers("experiment"))
    for check in case.child("expected").children("checks"):
        p = check.number("p")
        found.near(f"percentile({p:g})", check.number("value"), percentile(values, p), tolerance(check, "abs_tol"))
    return found


def check_summary_stats(case: Fields) -> Mismatches:
    expected, found = case.child("expected"), Mismatches()
    stats = summary_stats(to_array(case.numbers("experiment")))
    for key, got in (("min", stats.min), ("max", stats.max), ("mean", stats.mean), ("std", stats.std)):
        found.near(key, expected.number(key), got)
    found.equal("count", expected.integer("count"), stats.count)
    return found


def detector(params: Fields) -> OutlierDetector:
    name = params.string("detector")
    if name == "IQRDetector":
        return IQRDetector(params.number("factor"), params.boolean("reduceSensitivity"))
    if name == "KSigmaDetector":
        return KSigmaDetector(params.number("k"))
    params.fail("detector", f"{name!r} is not IQRDetector or KSigmaDetector")


def check_outlier(case: Fields) -> Mismatches:
    found = Mismatches()
    flags = detector(case.child("params")).detect(to_array(case.numbers("experiment")))
    found.equal("is_outlier", case.child("expected").booleans("is_outlier"), flags)
    return found


def check_transform(case: Fields) -> Mismatches:
    params, found = case.child("params"), Mismatches()
    values = to_array(case.numbers("experiment"))
    name = params.string("transform")
    if name == "removeNaNs":
        got = remove_nan(values)
    elif name == "removeOutliers":
        got = remove_outliers(values, detector(params))
    else:
        params.fail("transform", f"{name!r} is not removeNaNs or removeOutliers")
    found.all_near("values", case.child("expected").numbers("values"), [float(v) for v in got])
    return found


_INTERMEDIATE = ("muMin", "muMax", "zqLower", "zqUpper", "fLower1", "fUpper1", "fLower2", "fUpper2")

STATS_CHECKS: dict[str, KindCheck] = {
    "mann_whitney_ci": KindCheck(
        check_mann_whitney_ci, ("ci_lower", "ci_upper", "estimate"), ("abs_tol_ci", "abs_tol_estimate")
    ),
    "mann_whitney_intermediate": KindCheck(
        check_mann_whitney_intermediate, (*_INTERMEDIATE, "ciLower", "ciUpper", "estimate"), ("abs_tol",)
    ),
    "wilcoxon_diff": KindCheck(check_wilcoxon_diff, ("values",), ("abs_tol",)),
    "normal_quantile": KindCheck(check_normal_quantile, ("value",), ("abs_tol",)),
    "effect_size": KindCheck(check_effect_size, ("value",), ("abs_tol",)),
    "percentile": KindCheck(check_percentile, ("checks",)),
    "summary_stats": KindCheck(check_summary_stats, ("min", "max", "mean", "std", "count")),
    "outlier": KindCheck(check_outlier, ("is_outlier",)),
    "transform": KindCheck(check_transform, ("values",)),
}

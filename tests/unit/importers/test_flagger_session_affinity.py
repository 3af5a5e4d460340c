"""Flagger's analysis.sessionAffinity becomes strategy.canary.sessionAffinity; what meshroll's cookie
does not carry is listed, and providers or strategies that cannot keep sessions sticky say so."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.importers.conftest import Imported, run_import

CANARY = """\
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  PROVIDER
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    interval: 1m
    threshold: 10
    SCHEDULE
    sessionAffinity:
      AFFINITY
    metrics:
      - {name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}
"""
WEIGHTS = "stepWeight: 10\n    maxWeight: 50"


def imported(tmp_path: Path, affinity: str, provider: str = "provider: istio", schedule: str = WEIGHTS) -> Imported:
    source = tmp_path / "canary.yaml"
    text = CANARY.replace("PROVIDER", provider).replace("SCHEDULE", schedule).replace("AFFINITY", affinity)
    source.write_text(text)
    return run_import(tmp_path, source)


def test_cookie_name_and_max_age_seconds_become_the_canarys_session_affinity(tmp_path: Path) -> None:
    result = imported(tmp_path, "cookieName: flagger-cookie\n      maxAge: 21600")
    assert result.code == 0, result.stderr
    assert result.spec["strategy"]["canary"]["sessionAffinity"] == {"cookieName": "flagger-cookie", "maxAge": "6h"}
    assert "sessionAffinity" not in result.stderr  # nothing of it left out
    assert "strategy.canary.sessionAffinity: analysis.sessionAffinity" in result.text


def test_flaggers_default_max_age_is_a_day_and_other_cookie_attributes_are_listed(tmp_path: Path) -> None:
    result = imported(tmp_path, "cookieName: c\n      sameSite: Strict\n      secure: true")
    assert result.code == 0, result.stderr
    assert result.spec["strategy"]["canary"]["sessionAffinity"] == {"cookieName": "c", "maxAge": "24h"}
    for other in ("sameSite", "secure"):
        assert f"canary.yaml:spec.analysis.sessionAffinity.{other}: not translated: meshroll's route sets the " in (
            result.stderr
        )


def test_primary_cookie_name_pins_stable_users_as_in_flagger(tmp_path: Path) -> None:
    result = imported(tmp_path, "cookieName: c\n      primaryCookieName: p\n      maxAge: 3600")
    assert result.code == 0, result.stderr
    assert result.spec["strategy"]["canary"]["sessionAffinity"] == {
        "cookieName": "c",
        "maxAge": "1h",
        "primaryCookieName": "p",
    }
    assert "primaryCookieName" not in result.stderr  # translated, not listed
    said = " ".join(result.text.replace("#", " ").split())  # the comment's lines are wrapped
    assert "and those they send to stable get p and stay on stable" in said


@pytest.mark.parametrize(
    ("affinity", "says"),
    [
        ('primaryCookieName: "my cookie"', "'my cookie' is not an RFC 6265 cookie name"),
        ("primaryCookieName: __Host-stable", "only with the Secure attribute"),
        ("cookieName: same\n      primaryCookieName: same", "it is also the canary's cookie name"),
        ("primaryCookieName: meshroll-canary", "it is also the canary's cookie name"),  # meshroll's default name
    ],
)
def test_a_primary_cookie_name_meshroll_cannot_set_is_listed_and_stable_users_follow_the_weights(
    tmp_path: Path, affinity: str, says: str
) -> None:
    result = imported(tmp_path, affinity)
    assert result.code == 0, result.stderr
    assert "primaryCookieName" not in result.spec["strategy"]["canary"]["sessionAffinity"]
    line = next(x for x in result.stderr.splitlines() if "sessionAffinity.primaryCookieName: not translated: " in x)
    assert says in line and "stable's users follow the weights" in line


def test_a_cookie_name_that_is_no_rfc_6265_token_falls_back_to_meshrolls_and_says_so(tmp_path: Path) -> None:
    result = imported(tmp_path, 'cookieName: "my cookie"\n      maxAge: 60')
    assert result.code == 0, result.stderr
    assert result.spec["strategy"]["canary"]["sessionAffinity"] == {"maxAge": "1m"}
    assert "sessionAffinity.cookieName: not translated: 'my cookie' is not an RFC 6265 cookie name" in result.stderr


def test_a_secure_prefixed_or_overlong_cookie_name_falls_back_too_instead_of_failing_the_import(tmp_path: Path) -> None:
    for name, says in (("__Host-canary", "only with the Secure attribute"), ("c" * 65, "too long")):
        result = imported(tmp_path, f"cookieName: {name}")
        assert result.code == 0, result.stderr  # was 1: "the imported Experiment does not validate"
        assert result.spec["strategy"]["canary"]["sessionAffinity"] == {"maxAge": "24h"}
        assert "sessionAffinity.cookieName: not translated: " in result.stderr and says in result.stderr


def test_on_linkerd_smi_session_affinity_is_listed_not_imported(tmp_path: Path) -> None:
    result = imported(tmp_path, "cookieName: c", provider="provider: linkerd")
    assert result.code == 0, result.stderr
    assert "sessionAffinity" not in result.spec["strategy"]["canary"]
    assert "spec.analysis.sessionAffinity: not translated: meshroll keeps sessions sticky only" in result.stderr

"""Fixtures shared by the provider tests against the real API server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from tests.controlplane.fixture import ControlPlane


@pytest.fixture
def admin(controlplane: ControlPlane) -> Iterator[k8s.ApiClient]:
    """An admin client of the session's control plane."""
    with controlplane.api_client() as api:
        yield api

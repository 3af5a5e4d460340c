"""Shared fixtures. Fixtures for real servers live in their own plugin modules."""

pytest_plugins: list[str] = ["tests.controlplane.fixture", "tests.prometheus.fixture"]

"""The controller's integration tests use the fixtures in ``fixtures.py``."""

from tests.integration.kube.fixtures import kube, namespace, start_controller

__all__ = ["kube", "namespace", "start_controller"]

"""The Experiment as users write it: pydantic models, YAML loading with file:line errors."""

from rollout.spec.loader import SpecError, load_experiment, load_experiment_text
from rollout.spec.models import Experiment

__all__ = ["Experiment", "SpecError", "load_experiment", "load_experiment_text"]

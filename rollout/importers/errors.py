"""The importer's one error: a user's input that cannot be translated, said in one line."""

from __future__ import annotations


class ImporterError(Exception):
    """An input file that holds nothing to import, is not YAML, or lacks a required field."""

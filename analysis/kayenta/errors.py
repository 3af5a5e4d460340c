"""The kayenta package's exceptions."""

from __future__ import annotations


class KayentaError(Exception):
    """Base of every error the kayenta port raises."""


class TiedObservationsError(KayentaError, ArithmeticError):
    """The Mann-Whitney interval cannot be computed: every observation is tied."""


class OracleFileError(KayentaError, ValueError):
    """The oracle case file cannot be read or does not have the expected shape."""

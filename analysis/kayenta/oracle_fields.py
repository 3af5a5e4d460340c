"""Typed, located access to the fields of an oracle case; a bad field is an OracleFileError."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NoReturn

from analysis.kayenta.errors import OracleFileError

_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Fields:
    """A JSON object inside a case: ``where`` names the case, ``path`` the object within it."""

    def __init__(self, data: Mapping[str, object], where: str, path: str = "") -> None:
        self.data = data
        self.where = where
        self.path = path

    def fail(self, key: str, what: str) -> NoReturn:
        raise OracleFileError(f"{self.where}: {self.path}{key} {what}")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> object:
        if key not in self.data:
            self.fail(key, "is missing")
        return self.data[key]

    def number(self, key: str) -> float:
        return self._as_number(key, self.raw(key))

    def optional_number(self, key: str) -> float | None:
        value = self.data.get(key)
        return None if value is None else self._as_number(key, value)

    def _as_number(self, key: str, value: object) -> float:
        if isinstance(value, bool):
            self.fail(key, f"must be a number, got {_show(value)}")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str) and value in _SPECIAL:
            return _SPECIAL[value]
        self.fail(key, f"must be a number, got {_show(value)}")

    def numbers(self, key: str) -> list[float]:
        return [self._as_number(f"{key}[{i}]", v) for i, v in enumerate(self._list(key))]

    def integer(self, key: str) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be an integer, got {_show(value)}")
        return value

    def string(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {_show(value)}")
        return value

    def strings(self, key: str) -> list[str]:
        values = self._list(key)
        if not all(isinstance(v, str) for v in values):
            self.fail(key, "must be a list of strings")
        return [str(v) for v in values]

    def boolean(self, key: str) -> bool:
        value = self.raw(key)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {_show(value)}")
        return value

    def booleans(self, key: str) -> list[bool]:
        values = self._list(key)
        if not all(isinstance(v, bool) for v in values):
            self.fail(key, "must be a list of true/false")
        return [bool(v) for v in values]

    def child(self, key: str) -> Fields:
        value = self.raw(key)
        if not isinstance(value, Mapping):
            self.fail(key, f"must be an object, got {_show(value)}")
        return Fields(value, self.where, f"{self.path}{key}.")

    def children(self, key: str) -> list[Fields]:
        values = self._list(key)
        if not all(isinstance(v, Mapping) for v in values):
            self.fail(key, "must be a list of objects")
        return [
            Fields(v, self.where, f"{self.path}{key}[{i}].") for i, v in enumerate(values) if isinstance(v, Mapping)
        ]

    def number_map(self, key: str) -> dict[str, float]:
        child = self.child(key)
        return {name: child.number(name) for name in child.data}

    def _list(self, key: str) -> list[object]:
        value = self.raw(key)
        if not isinstance(value, list):
            self.fail(key, f"must be a list, got {_show(value)}")
        return value

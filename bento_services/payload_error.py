"""The error every route answers bad input with: a module of its own, without numpy and pandas,
so the service module can register its handler without importing them (see ``service``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PayloadError(ValueError):
    """A request the model cannot score; ``problems`` name each field and what is wrong."""

    message: str
    problems: list[dict[str, Any]] = field(default_factory=list)
    status_code: int = 400

    def __str__(self) -> str:
        return self.message

    def as_json(self) -> dict[str, Any]:
        return {"error": self.message, "problems": self.problems}

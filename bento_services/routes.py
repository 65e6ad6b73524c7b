"""A model's route: the replicas its gateway forwards to and, during a challenge, the challenger
and its share. Built here by the serving steps, written to the model's route file by
``endpoints.route_to``, read by the gateway (``gateway.read_route``) as plain JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from registry.challenge_modes import Mode


@dataclass(frozen=True)
class ChallengerRoute:
    """The second version behind a model's URL; ``max_queued`` bounds a shadow's waiting copies
    (None: the gateway's default)."""

    upstreams: list[str]
    model_version: int
    deployment_id: int
    challenge_id: int
    mode: Mode = "shadow"
    percent: float = 100.0
    sticky_header: str | None = None
    max_queued: int | None = None

    @classmethod
    def of(cls, section: dict[str, Any] | None) -> ChallengerRoute | None:
        """A route file's challenger section, as written (fields it does not know are dropped)."""
        if not section:
            return None
        return cls(**{name: section[name] for name in cls.__dataclass_fields__ if name in section})


@dataclass(frozen=True)
class Route:
    model_name: str
    model_version: int
    upstreams: list[str]
    challenger: ChallengerRoute | None = None

    def as_file(self) -> dict[str, Any]:
        return asdict(self)

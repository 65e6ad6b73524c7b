"""What the page shows of a model's challenge: the active one with its latest evaluation (the
judge's, at most ``challenge_interval_s`` old, else made now) and the gateway's counts this
second, or the last one's outcome; and the challenges before it. The functions are
``registry.challenges`` and ``pipelines.challenges``'s, as the CLI calls them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from bento_services import chain
from registry.settings import Settings


def model_challenge(settings: Settings, name: str) -> dict[str, Any]:
    from registry.challenges import challenges_of

    found = challenges_of(name, settings=settings, limit=10)
    current = found[0] if found and found[0].active else None
    return {"active": current.model_dump(mode="json") if current else None,
            "evaluation": _evaluation(settings, current) if current else None,
            "history": [challenge.model_dump(mode="json", exclude={"evaluation"}) for challenge in found
                        if not challenge.active],
            "dag_id": chain.CHALLENGE_DAG, "interval_s": settings.challenge_interval_s}


def _evaluation(settings: Settings, challenge) -> dict[str, Any]:
    """The saved evaluation while it is fresh, with the live counts of now; else a new one."""
    from pipelines.challenges.evaluate import evaluate_challenge, read_live

    saved = challenge.evaluation
    at = datetime.fromisoformat(saved["evaluated_at"]) if saved.get("evaluated_at") else None
    if at is None or datetime.now(timezone.utc) - at > timedelta(seconds=settings.challenge_interval_s):
        return evaluate_challenge(settings, challenge).model_dump(mode="json", exclude={"challenge"})
    live = read_live(settings, challenge)
    return {**saved, "live": live.model_dump(mode="json") if live else None}

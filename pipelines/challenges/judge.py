"""The challenges' judge: every active challenge evaluated, and what its rule decides carried out.

The platform's watchdog process runs ``judge_forever`` (every ``challenge_interval_s``), the CLI
runs ``judge_once`` (``modelyard challenge judge``). It is the one place where a comparison
(``pipelines.challenges``) moves traffic (``bento_services.challenges``).
"""

from __future__ import annotations

import logging
import threading

from pydantic import BaseModel

from pipelines.challenges.evaluate import Evaluation, evaluate_challenge
from registry.challenges import active_challenges
from registry.settings import Settings

ACTOR = "challenge-rule"
logger = logging.getLogger(__name__)


class Judged(BaseModel):
    """One challenge's evaluation, and what was done about it (``None``: nothing yet)."""

    evaluation: Evaluation
    done: str | None = None
    error: str | None = None


def judge_once(settings: Settings, *, model: str | None = None) -> list[Judged]:
    """Evaluate each active challenge (of ``model``, if named) and act on its decision."""
    from bento_services.challenges import act_on

    judged = []
    for challenge in active_challenges(settings=settings):
        if model is not None and challenge.model_name != model:
            continue
        evaluation = evaluate_challenge(settings, challenge)
        result = Judged(evaluation=evaluation)
        if evaluation.decision is not None:
            try:
                act_on(evaluation.decision, settings=settings, actor=ACTOR)
                result.done = f"{evaluation.decision.action}: {evaluation.decision.reason}"
            except Exception as error:  # a challenge ended meanwhile, a lock held: the next pass sees it
                result.error = f"{type(error).__name__}: {error}"
        judged.append(result)
    return judged


def judge_forever(settings: Settings, stopping: threading.Event) -> None:
    """``judge_once`` every ``challenge_interval_s`` until ``stopping`` is set."""
    while not stopping.wait(settings.challenge_interval_s):
        try:
            for result in judge_once(settings):
                if result.done or result.error:
                    logger.warning("challenge %s of %s: %s", result.evaluation.challenge.id,
                                   result.evaluation.challenge.model_name, result.done or result.error)
        except Exception:  # a database or storage hiccup must not end the judge
            logger.exception("judging the challenges failed")

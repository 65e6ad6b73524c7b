"""One evaluation of a challenge: both versions' logged answers since it started, compared request
by request (``compare``), the gateway's live counts of each, and what the challenge's rule says.

The rule reads the gateway for errors and latency (a canary that fails is seen within one
evaluation, before its rows reach the log) and the log for predictions and labels. It only
decides; ``bento_services.challenges.act_on`` carries a decision out.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel

from pipelines.challenges.compare import Comparison, compare_versions
from registry.challenges import ChallengeInfo, Decision, Rule, save_evaluation
from registry.settings import Settings


class VersionLive(BaseModel):
    """One version's answers through the gateway since the challenge started (mirrors included)."""

    requests: int = 0
    errors: int = 0
    error_rate: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None


class LiveCounts(BaseModel):
    """What the gateway counted for the challenge (``/-/gateway``'s ``challenger``)."""

    champion: VersionLive
    challenger: VersionLive
    answered: int = 0  # client requests the challenger answered (canary)
    failed_over: int = 0  # canary requests the challenger could not take, answered by the champion
    mirrored: int = 0
    mirror_dropped: int = 0
    mirror_failed: int = 0
    mirror_errors: int = 0
    mirror_pending: int = 0  # queued or being sent: a shadow challenger catches up when the load eases


class Evaluation(BaseModel):
    challenge: ChallengeInfo
    evaluated_at: datetime
    comparison: Comparison
    live: LiveCounts | None  # None: the gateway did not answer
    decision: Decision | None
    checks: list[str]  # each rule bound as it stood, in a sentence


def evaluate_challenge(settings: Settings, challenge: ChallengeInfo, *, now: datetime | None = None) -> Evaluation:
    """Compare, read the gateway, check the rule; the result is kept on the challenge."""
    now = now or datetime.now(timezone.utc)
    comparison = compare_logged(settings, challenge, now)
    live = read_live(settings, challenge)
    decision, checks = decide(challenge, comparison, live, gone=challenger_gone(settings, challenge))
    evaluation = Evaluation(challenge=challenge, evaluated_at=now, comparison=comparison, live=live,
                            decision=decision, checks=checks)
    save_evaluation(challenge.id, evaluation.model_dump(mode="json", exclude={"challenge"}), settings=settings)
    return evaluation


def compare_logged(settings: Settings, challenge: ChallengeInfo, now: datetime) -> Comparison:
    """Both versions' log rows since the challenge started (copies included), compared."""
    from pipelines.monitoring.labels import read_labels
    from pipelines.monitoring.reader import read_window
    from pipelines.monitoring.reference import load_reference

    reference = load_reference(settings, challenge.model_name, challenge.champion_version)
    rows = read_window(settings, challenge.model_name, challenge.started_at, now, shadow=True,
                       versions=[challenge.champion_version, challenge.challenger_version],
                       features=reference.feature_types(), outputs=reference.output_types())
    labels = read_labels(settings, challenge.model_name)
    return compare_versions(rows[rows["version"] == challenge.champion_version],
                            rows[rows["version"] == challenge.challenger_version],
                            task=reference.card.task, classes=reference.card.classes,
                            features=list(reference.feature_types()), labels=labels,
                            confidence=challenge.rule.confidence)


def read_live(settings: Settings, challenge: ChallengeInfo) -> LiveCounts | None:
    """The gateway's counts for this challenge; None when it is not serving it (or not answering)."""
    from registry.deployments import gateway_status

    status = gateway_status(challenge.model_name, settings=settings)
    found = (status or {}).get("challenger") or {}
    if found.get("challenge_id") != challenge.id:
        return None
    versions = found.get("versions", {})
    return LiveCounts(champion=VersionLive(**versions.get(str(challenge.champion_version), {})),
                      challenger=VersionLive(**versions.get(str(challenge.challenger_version), {})),
                      **{key: found.get(key, 0) for key in ("answered", "failed_over", "mirrored", "mirror_dropped",
                                                            "mirror_failed", "mirror_errors", "mirror_pending")})


def challenger_gone(settings: Settings, challenge: ChallengeInfo) -> str | None:
    """Why the challenger cannot answer any more (every replica's server is gone), else None.
    Nothing restarts a challenger: a shadow one that died would otherwise stay 'active' forever."""
    from registry.deployments import replica_state, replicas_of
    from registry.metadata.db import session_scope
    from registry.metadata.tables import Deployment

    with session_scope(settings) as session:
        row = session.get(Deployment, challenge.deployment_id)
    replicas = replicas_of(row) if row is not None else []
    if replicas and all(replica_state(replica) == "dead" for replica in replicas):
        return f"the challenger's {len(replicas)} server(s) are gone"
    return None


def decide(challenge: ChallengeInfo, comparison: Comparison, live: LiveCounts | None,
           gone: str | None = None) -> tuple[Decision | None, list[str]]:
    """The rule's verdict: end a failing canary (with its numbers) or a challenge whose challenger
    died; else promote a challenger that wins on labels."""
    rule, checks = challenge.rule, []
    if challenge.mode == "canary" and rule.auto_rollback and live is not None:
        reason = rollback_reason(rule, live, checks)
        if reason:
            return _decision(challenge, "end", f"rolled back: {reason}", live=live), checks
    if gone:
        return _decision(challenge, "end", f"ended: {gone}", live=live), [*checks, gone]
    reason = promotion_reason(rule, comparison, checks)
    if reason and rule.auto_promote:
        return _decision(challenge, "promote", reason, comparison=comparison), checks
    return None, checks


def rollback_reason(rule: Rule, live: LiveCounts, checks: list[str]) -> str | None:
    """Why a canary must end: its error rate or p99 past the bounds against the champion's."""
    tried = live.challenger.requests + live.failed_over
    failed = live.challenger.errors + live.failed_over
    if tried < rule.min_requests:
        checks.append(f"rollback: {tried} challenger requests, fewer than the {rule.min_requests} the rule needs")
        return None
    rate = failed / tried
    champion_rate = live.champion.errors / live.champion.requests if live.champion.requests else 0.0
    line = champion_rate + rule.max_error_rate_increase
    checks.append(f"error rate {rate:.1%} against the champion's {champion_rate:.1%} (bound {line:.1%})")
    if rate > line:
        return (f"error rate {rate:.1%} over {tried} requests ({live.failed_over} failed over), against the "
                f"champion's {champion_rate:.1%}; the bound is +{rule.max_error_rate_increase:.1%}")
    ours, theirs = live.challenger.p99_ms, live.champion.p99_ms
    if ours is not None and theirs and live.champion.requests >= rule.min_requests:
        checks.append(f"p99 {ours:.1f} ms against the champion's {theirs:.1f} ms (bound x{rule.max_p99_ratio:g})")
        if ours > rule.max_p99_ratio * theirs:
            return (f"p99 {ours:.1f} ms against the champion's {theirs:.1f} ms, over the bound of "
                    f"{rule.max_p99_ratio:g} times")
    return None


def promotion_reason(rule: Rule, comparison: Comparison, checks: list[str]) -> str | None:
    """Why the challenger should take over: its labelled metric better by the margin, the interval clear of zero."""
    labelled = comparison.labelled
    if labelled is None or labelled.rows < rule.min_labelled:
        rows = labelled.rows if labelled else 0
        checks.append(f"promotion: {rows} labelled requests, fewer than the {rule.min_labelled} the rule needs")
        return None
    low, high = labelled.interval or (None, None)
    checks.append(f"{labelled.metric}: challenger {labelled.challenger_value:.4g}, champion "
                  f"{labelled.champion_value:.4g}, difference {labelled.difference:+.4g} "
                  f"(interval {_interval(low, high)}) over {labelled.rows} labelled rows")
    if low is None or not labelled.clear_of_zero or labelled.better != "challenger" or low <= rule.promote_margin:
        return None
    return (f"{labelled.metric} {labelled.challenger_value:.4g} against the champion's {labelled.champion_value:.4g} "
            f"over {labelled.rows} labelled rows: {labelled.difference:+.4g}, {rule.confidence:.0%} interval "
            f"{_interval(low, high)}, clear of zero and above the margin {rule.promote_margin:g}")


def _interval(low: float | None, high: float | None) -> str:
    return "n/a" if low is None else f"{low:+.4g}..{high:+.4g}"


def _decision(challenge: ChallengeInfo, action: str, reason: str, **parts: Any) -> Decision:
    figures = {key: value.model_dump(mode="json") for key, value in parts.items() if value is not None}
    return Decision(challenge_id=challenge.id, model_name=challenge.model_name, action=action, reason=reason,
                    figures=figures)

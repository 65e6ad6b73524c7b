"""The challenge rule on constructed figures: a canary rolled back on errors, failovers or p99, a
shadow never rolled back, a promotion only with enough labelled rows and an interval clear of the
margin; each check said in a sentence."""

from __future__ import annotations

from datetime import datetime, timezone

from pipelines.challenges.compare import Comparison, LabelledComparison, VersionFigures
from pipelines.challenges.evaluate import LiveCounts, VersionLive, decide
from registry.challenges import ChallengeInfo, Rule


def _challenge(mode: str = "canary", **rule) -> ChallengeInfo:
    return ChallengeInfo(id=7, model_name="m", champion_version=1, challenger_version=2, deployment_id=3, mode=mode,
                         percent=20.0, sticky_header=None, rule=Rule(**rule), status="active",
                         started_at=datetime.now(timezone.utc), started_by="ann", ended_at=None, ended_by=None,
                         outcome=None, evaluation={})


def _comparison(labelled: LabelledComparison | None = None) -> Comparison:
    return Comparison(task="classification", champion=VersionFigures(), challenger=VersionFigures(),
                      labelled=labelled)


def _live(*, champion=(1000, 0, 10.0), challenger=(200, 0, 10.0), failed_over=0) -> LiveCounts:
    def version(figures):
        requests, errors, p99 = figures
        return VersionLive(requests=requests, errors=errors, p99_ms=p99)

    return LiveCounts(champion=version(champion), challenger=version(challenger), failed_over=failed_over)


def _labelled(rows: int, interval, difference: float = 0.05) -> LabelledComparison:
    low, high = interval
    clear = low > 0 or high < 0
    return LabelledComparison(rows=rows, metric="accuracy", champion_value=0.85, challenger_value=0.85 + difference,
                              difference=difference, interval=interval, clear_of_zero=clear,
                              better=("challenger" if low > 0 else "champion") if clear else None)


def test_a_canary_that_errors_is_rolled_back_with_its_numbers():
    decision, checks = decide(_challenge(), _comparison(), _live(challenger=(200, 20, 10.0)))
    assert decision.action == "end"
    assert decision.reason == ("rolled back: error rate 10.0% over 200 requests (0 failed over), against the "
                               "champion's 0.0%; the bound is +2.0%")
    assert decision.figures["live"]["challenger"]["errors"] == 20


def test_a_killed_canary_counts_its_failovers_as_errors():
    decision, _ = decide(_challenge(), _comparison(), _live(challenger=(10, 0, 10.0), failed_over=30))
    assert decision.action == "end" and "75.0% over 40 requests (30 failed over)" in decision.reason


def test_a_slow_canary_is_rolled_back_on_p99():
    decision, _ = decide(_challenge(), _comparison(), _live(challenger=(200, 0, 16.0)))
    assert decision.action == "end" and "p99 16.0 ms against the champion's 10.0 ms" in decision.reason
    within, _ = decide(_challenge(), _comparison(), _live(challenger=(200, 0, 14.9)))
    assert within is None


def test_too_few_requests_or_a_shadow_or_rollback_off_decide_nothing():
    few, checks = decide(_challenge(), _comparison(), _live(challenger=(10, 10, 10.0)))
    assert few is None and "10 challenger requests, fewer than the 20" in checks[0]
    shadow, _ = decide(_challenge("shadow"), _comparison(), _live(challenger=(200, 200, 10.0)))
    off, _ = decide(_challenge(auto_rollback=False), _comparison(), _live(challenger=(200, 200, 10.0)))
    assert shadow is None and off is None


def test_promotion_needs_the_labelled_rows_an_interval_clear_of_zero_and_the_margin():
    enough = _comparison(_labelled(300, (0.02, 0.08)))
    decision, checks = decide(_challenge("shadow"), enough, None)
    assert decision.action == "promote"
    assert decision.reason == ("accuracy 0.9 against the champion's 0.85 over 300 labelled rows: +0.05, 95% interval "
                               "+0.02..+0.08, clear of zero and above the margin 0")
    too_few, checks = decide(_challenge("shadow"), _comparison(_labelled(150, (0.02, 0.08))), None)
    assert too_few is None and checks == ["promotion: 150 labelled requests, fewer than the 200 the rule needs"]
    straddles, _ = decide(_challenge("shadow"), _comparison(_labelled(300, (-0.01, 0.08))), None)
    under_margin, _ = decide(_challenge("shadow", promote_margin=0.03), enough, None)
    worse, _ = decide(_challenge("shadow"), _comparison(_labelled(300, (-0.08, -0.02), -0.05)), None)
    manual, _ = decide(_challenge("shadow", auto_promote=False), enough, None)
    assert straddles is None and under_margin is None and worse is None and manual is None


def test_a_failing_canary_is_ended_before_any_promotion():
    decision, _ = decide(_challenge(), _comparison(_labelled(300, (0.02, 0.08))), _live(challenger=(200, 50, 10.0)))
    assert decision.action == "end"


def test_a_challenger_whose_servers_died_is_ended_even_in_shadow():
    decision, checks = decide(_challenge("shadow", auto_rollback=False), _comparison(), None,
                              gone="the challenger's 1 server(s) are gone")
    assert decision.action == "end" and decision.reason == "ended: the challenger's 1 server(s) are gone"

"""The loop end to end, on real servers: drift injected into a live deployment's traffic, the
monitoring pass's alert, retraining on the drifted data by the model's policy, the new version in
a shadow challenge by itself, labels, and the rule promoting it; each step an event.

The drift shifts ten features by three standard deviations, as a recalibrated instrument would:
the served forest has never seen such values and guesses, while a forest refitted on the shifted
data (with the same true outcomes) is right again, so the labels favour the new version. An
imported model is alerted on and never refitted.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import httpx
import pandas as pd
import pytest

from bento_services.deploy import deploy_model, undeploy
from pipelines.challenges.judge import judge_once
from pipelines.monitoring.monitor import monitor_model
from registry.challenges import active_challenge
from registry.deployments import running
from registry.metadata.db import session_scope
from registry.metadata.events import events_for
from registry.retraining import policy_for, set_policy
from registry.settings import Settings
from tests.servers import free_port

NAME = "breast_cancer_classifier"
SHIFTED = 10  # features moved
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    from pipelines.training import DEMO_MODELS, train_demo_model

    settings = Settings(home=tmp_path_factory.mktemp("loop"), serve_replicas=1)
    train_demo_model(DEMO_MODELS[NAME], settings)
    return settings


@pytest.fixture(scope="module")
def drifted() -> pd.DataFrame:
    """The data set with its first ten features shifted by three standard deviations; target kept."""
    from pipelines.training import load_dataset

    features, target = load_dataset("breast_cancer")
    moved = features.columns[:SHIFTED]
    shifted = features.assign(**{column: features[column] + 3 * features[column].std() for column in moved})
    return shifted.assign(target=target.to_numpy())


@pytest.fixture(scope="module")
def served(settings):
    info = deploy_model(f"{NAME}/1", port=free_port(), replicas=1, settings=settings)
    yield info
    if running(NAME, settings=settings):
        undeploy(NAME, settings=settings)


def _send(url: str, frame: pd.DataFrame, prefix: str, rows_per_request: int = 10) -> pd.DataFrame:
    """Requests of several rows each; the request id and row of each row sent, with its target."""
    sent = []
    features = frame.drop(columns="target")
    with httpx.Client(timeout=60.0) as client:
        for start in range(0, len(frame), rows_per_request):
            request_id = f"{prefix}-{start}"
            chunk = features.iloc[start:start + rows_per_request]
            answer = client.post(f"{url}/predict", json=chunk.to_dict(orient="records"),
                                 headers={"x-request-id": request_id})
            assert answer.status_code == 200, answer.text
            sent += [{"request_id": request_id, "row": row, "label": str(label)}
                     for row, label in enumerate(frame["target"].iloc[start:start + rows_per_request])]
    return pd.DataFrame(sent)


def _wait_logged(settings: Settings, request_ids: set[str], versions: set[int], timeout: float = 30.0) -> None:
    from pipelines.monitoring.reader import read_window

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = read_window(settings, NAME, datetime.now(timezone.utc) - timedelta(hours=1),
                           datetime.now(timezone.utc) + timedelta(minutes=1), shadow=True,
                           columns=["request_id", "row", "status"])
        seen = rows[rows["request_id"].isin(request_ids)].groupby("version")["request_id"].nunique()
        if all(seen.get(version, 0) == len(request_ids) for version in versions):
            return
        time.sleep(0.5)
    raise AssertionError(f"the log did not get every request from versions {versions}")


def test_an_imported_model_gets_the_alert_and_no_retraining(settings, drifted):
    from pipelines.challenges.retrain import retrain

    path = settings.home / "data" / "drifted.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    drifted.to_parquet(path)
    with pytest.raises(Exception, match="data_path 'relative.csv' must be an absolute path"):
        set_policy(settings, NAME, {"data_path": "relative.csv"}, actor="ann")
    set_policy(settings, NAME, {"data_path": str(path), "min_drifted_features": 3,
                                "validation_floor": {"accuracy": 0.85}}, actor="ann")
    assert policy_for(settings, NAME).policy.min_drifted_features == 3
    outcome = retrain(settings, "no_such_policy_model", trigger="test")
    assert outcome.skipped == "no enabled retraining policy" and outcome.version is None


def test_drift_alert_retrains_challenges_and_labels_promote_the_new_version(settings, drifted, served):
    first = drifted.sample(frac=1.0, random_state=1).iloc[:300]
    sent = _send(served.url, first, "drifted")
    _wait_logged(settings, set(sent["request_id"]), {1})
    record = monitor_model(settings, NAME, now=datetime.now(timezone.utc) + timedelta(seconds=1), actor="monitor")
    assert len(record.figures.drifted_features) >= 3, record.figures.feature_psi
    assert any(alert.rule == "feature_psi" for alert in record.alerts)

    challenge = active_challenge(NAME, settings=settings)
    assert challenge is not None and challenge.challenger_version == 2 and challenge.mode == "shadow"
    assert challenge.started_by == "retraining"

    later = drifted.sample(frac=1.0, random_state=2).iloc[:300]
    labels = _send(served.url, later, "labelled")
    _wait_logged(settings, set(labels["request_id"]), {1, 2})
    from pipelines.monitoring.labels import add_labels

    add_labels(settings, NAME, labels, actor="ann")
    judged = judge_once(settings, model=NAME)
    labelled = judged[0].evaluation.comparison.labelled
    print(f"\nlabelled: {labelled.metric} champion {labelled.champion_value:.3f}, challenger "
          f"{labelled.challenger_value:.3f} over {labelled.rows} rows, interval {labelled.interval}")
    assert judged[0].done and judged[0].done.startswith("promote"), judged[0].evaluation.checks
    assert running(NAME, settings=settings)[0].model_version == 2

    with session_scope(settings) as session:
        events = list(reversed(events_for(session, model_name=NAME)))
    loop = [event.action for event in events if event.action in (
        "alert", "retrained", "challenger_launched", "challenge_started", "challenge_promoted", "challenger_promoted")]
    print("the loop's events:\n" + "\n".join(
        f"  {event.created_at:%H:%M:%S} {event.action} v{event.model_version} by {event.actor}: "
        f"{str(event.details.get('reason') or event.details.get('trigger') or event.details.get('message') or '')[:140]}"
        for event in events if event.action in set(loop)))
    assert loop.index("alert") < loop.index("retrained") < loop.index("challenge_started") \
        < loop.index("challenge_promoted")

"""Challengers for real: ``bentoml serve`` replicas of two versions behind one gateway, clients
sending requests throughout; shadow, the comparison of both answers, promotion by the rule once
labels arrive, a canary whose challenger dies ended by the rule, and the faults a user makes.

Version 1 is a one-split stump and version 2 the demo's forest, so they disagree on known rows
and the labels (the data set's true targets) favour version 2. The tests run in order on one
module-scoped home.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time

import httpx
import pandas as pd
import pytest

from bento_services.challenges import NoChallengeError, end_challenge, promote_challenger, start_challenge
from bento_services.deploy import deploy_model, undeploy
from bento_services.gateway import STATUS_PATH
from pipelines.challenges.evaluate import evaluate_challenge
from pipelines.challenges.judge import judge_once
from infra.processes import Process, is_running, scheduling_policies
from registry.challenges import Rule, active_challenge, challenges_of
from registry.deployments import list_deployments
from registry.errors import ConflictError, InvalidFieldError
from registry.metadata.db import session_scope
from registry.metadata.events import events_for
from registry.metadata.tables import Challenge, Deployment
from registry.settings import Settings
from tests.servers import free_port

NAME = "breast_cancer_classifier"
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    """Version 1 a stump, versions 2 and 3 the forest."""
    from sklearn.tree import DecisionTreeClassifier

    from pipelines.training import DEMO_MODELS, train_demo_model

    settings = Settings(home=tmp_path_factory.mktemp("challenges"), serve_replicas=1)
    stump = dataclasses.replace(DEMO_MODELS[NAME], build=lambda: DecisionTreeClassifier(max_depth=1, random_state=0))
    train_demo_model(stump, settings)
    train_demo_model(DEMO_MODELS[NAME], settings)
    train_demo_model(DEMO_MODELS[NAME], settings)
    return settings


@pytest.fixture(scope="module")
def data():
    from pipelines.training import load_dataset

    return load_dataset("breast_cancer")


@pytest.fixture(scope="module")
def champion(settings):
    info = deploy_model(f"{NAME}/1", port=free_port(), replicas=1, settings=settings)
    yield info
    if any(row.status == "running" for row in list_deployments(settings=settings, live=False)):
        undeploy(NAME, settings=settings)


class Clients:
    """Two clients back to back sending real rows (each with its own request id) until stopped."""

    def __init__(self, url: str, features: pd.DataFrame):
        self.url, self.features = url, features
        self.answers: dict[str, tuple[int, int]] = {}  # request id -> (row index, version)
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(offset,)) for offset in (0, 1)]

    def _run(self, offset: int):
        with httpx.Client(timeout=60.0) as client:
            turn = offset
            while not self._stop.is_set():
                index = turn % len(self.features)
                turn += 2
                request_id = f"c{offset}-{turn}-{time.monotonic_ns()}"
                try:
                    answer = client.post(f"{self.url}/predict", json=[self.features.iloc[index].to_dict()],
                                         headers={"x-request-id": request_id})
                    if answer.status_code == 200:
                        self.answers[request_id] = (index, answer.json()["model_version"])
                    else:
                        self.failures.append(f"{answer.status_code}: {answer.text[:200]}")
                except httpx.HTTPError as error:
                    self.failures.append(f"{type(error).__name__}: {error}")

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join()


def _policies(settings: Settings, deployment_id: int) -> set[int]:
    """The scheduling policies of every thread the deployment's servers run."""
    with session_scope(settings) as session:
        records = session.get(Deployment, deployment_id).pids
    return set().union(*(scheduling_policies(Process(**record)) for record in records))


def _gateway(url: str) -> dict:
    return httpx.get(f"{url}{STATUS_PATH}", timeout=5).json()


def _logged(settings: Settings, since, request_ids: set[str], *, timeout: float = 30.0) -> pd.DataFrame:
    """Both versions' rows of these requests, once each request has two (the log flushes every second)."""
    from pipelines.monitoring.reader import read_window

    deadline = time.monotonic() + timeout
    while True:
        rows = read_window(settings, NAME, since, pd.Timestamp.now(tz="UTC") + pd.Timedelta(seconds=1),
                           shadow=True, columns=["request_id", "row", "status"])
        rows = rows[rows["request_id"].isin(request_ids)]
        if rows.groupby("request_id").size().reindex(list(request_ids), fill_value=0).ge(2).all() \
                or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def test_a_challenge_is_refused_with_what_is_wrong(settings, champion):
    with pytest.raises(InvalidFieldError, match="version 1 of 'breast_cancer_classifier' is the champion"):
        start_challenge(NAME, 1, settings=settings)
    with pytest.raises(InvalidFieldError, match="mode must be one of shadow, canary"):
        start_challenge(NAME, 2, mode="mirror", settings=settings)
    with pytest.raises(InvalidFieldError, match=r"percent must be above 0 and at most 100 \(given 150"):
        start_challenge(NAME, 2, percent=150, settings=settings)
    with pytest.raises(NoChallengeError, match="no active challenge"):
        end_challenge(NAME, settings=settings)
    assert challenges_of(NAME, settings=settings) == []


def test_shadow_every_request_is_answered_by_the_champion_and_logged_by_both(settings, champion, data):
    features, _ = data
    started = start_challenge(NAME, 2, mode="shadow", percent=100, settings=settings,
                              rule=Rule(auto_promote=False))
    with pytest.raises(ConflictError, match="has an active challenge already"):
        start_challenge(NAME, 3, settings=settings)
    # no client waits for a shadow: the champion's CPU comes first, in every thread of every process
    assert _policies(settings, started.deployment_id) == {os.SCHED_IDLE}
    assert _policies(settings, champion.id) == {os.SCHED_OTHER}
    with Clients(champion.url, features) as clients:
        time.sleep(8)
    assert clients.failures == []
    assert {version for _, version in clients.answers.values()} == {1}  # the client only ever sees the champion
    status = _gateway(champion.url)["challenger"]
    counts = {key: value for key, value in status.items() if key.startswith(("mirror", "answered", "failed", "since"))}
    assert status["mirrored"] == len(clients.answers) and status["mirror_dropped"] == 0, counts
    rows = _logged(settings, started.started_at, set(clients.answers))
    per_request = rows.groupby("request_id")["version"].agg(sorted)
    assert (per_request.map(tuple) == (1, 2)).all() and len(per_request) == len(clients.answers)
    assert rows.loc[rows["version"] == 2, "shadow"].all() and not rows.loc[rows["version"] == 1, "shadow"].any()

    from pipelines.monitoring.reader import read_window

    monitored = read_window(settings, NAME, started.started_at, pd.Timestamp.now(tz="UTC"))
    assert set(monitored["version"]) == {1}  # monitoring counts what clients got, not the copies


def test_status_compares_both_answers_of_each_request(settings, champion, data):
    features, _ = data
    challenge = active_challenge(NAME, settings=settings)
    evaluation = evaluate_challenge(settings, challenge)
    comparison = evaluation.comparison
    assert comparison.paired_requests >= 50
    # what each version answers for these rows, in process: the comparison must say the same
    from registry.predictors import load_predictor
    from registry.catalog import download_model_dir

    stump = load_predictor(download_model_dir(f"{NAME}/1", settings.home / "v1", settings)).predict(features)
    forest = load_predictor(download_model_dir(f"{NAME}/2", settings.home / "v2", settings)).predict(features)
    differ = (stump["prediction"] != forest["prediction"]).mean()
    assert 0 < comparison.disagreements and abs((1 - comparison.agreement) - differ) < 0.1
    assert evaluation.live is not None and evaluation.live.mirrored >= comparison.paired_requests
    assert evaluation.decision is None  # auto_promote is off, and nothing is labelled yet


def test_labels_make_the_rule_promote_the_challenger_under_load_with_no_request_lost(settings, champion, data):
    from pipelines.monitoring.labels import add_labels

    features, target = data
    challenge = active_challenge(NAME, settings=settings)
    with session_scope(settings) as session:  # the rule as a user sets it with --rule
        session.get(Challenge, challenge.id).rule = Rule(min_labelled=100).model_dump()
    with Clients(champion.url, features) as warmup:
        time.sleep(6)
    labelled = _logged(settings, challenge.started_at, set(warmup.answers))
    ids = sorted(set(labelled["request_id"]))
    rows = [warmup.answers[request_id][0] for request_id in ids]
    add_labels(settings, NAME, pd.DataFrame({"request_id": ids, "label": target.iloc[rows].astype(str).to_numpy()}),
               actor="tester")
    with Clients(champion.url, features) as clients:
        time.sleep(2)
        judged = judge_once(settings, model=NAME)
        time.sleep(3)
    assert clients.failures == []
    assert judged[0].done and judged[0].done.startswith("promote"), judged[0].evaluation.checks
    after = {version for _, version in list(clients.answers.values())[-20:]}
    assert after == {2}
    current = next(row for row in list_deployments(settings=settings, live=False) if row.status == "running")
    assert current.model_version == 2 and current.url == champion.url
    assert _policies(settings, current.id) == {os.SCHED_OTHER}  # a champion's CPU class again
    with session_scope(settings) as session:
        events = [event.action for event in events_for(session, model_name=NAME)]
    assert "challenge_promoted" in events and "challenge_started" in events
    assert active_challenge(NAME, settings=settings) is None


def test_a_canary_whose_challenger_dies_is_ended_by_the_rule_within_an_interval(settings, champion, data):
    """The judge as the watchdog runs it (``judge_forever``), every 3 s here."""
    from pipelines.challenges.judge import judge_forever

    features, _ = data
    challenge = start_challenge(NAME, 3, mode="canary", percent=20, settings=settings)
    stopping = threading.Event()
    judge = threading.Thread(target=judge_forever, args=(settings.model_copy(update={"challenge_interval_s": 3.0}),
                                                         stopping))
    with Clients(champion.url, features) as clients:
        time.sleep(4)
        answered = {version for _, version in clients.answers.values()}
        with session_scope(settings) as session:
            pids = session.get(Deployment, challenge.deployment_id).pids
        judge.start()
        for record in pids:
            os.kill(record["pid"], signal.SIGKILL)
        killed = time.monotonic()
        while active_challenge(NAME, settings=settings) is not None and time.monotonic() - killed < 30:
            time.sleep(0.2)
        ended_after = time.monotonic() - killed
    stopping.set()
    judge.join()
    print(f"\ncanary killed: ended by the rule {ended_after:.1f} s later (interval 3 s)")
    assert answered == {2, 3}, answered
    assert clients.failures == []
    ended = challenges_of(NAME, settings=settings, limit=1)[0]
    assert ended.status == "ended" and ended.outcome.startswith("rolled back: error rate"), ended.outcome
    assert ended.ended_by == "challenge-rule" and ended_after < 2 * 3.0 + 10
    assert _gateway(champion.url)["challenger"] is None
    assert all(not is_running(Process(**record)) for record in pids)


def test_a_shadow_challenger_killed_changes_nothing_for_clients_and_its_challenge_ends(settings, champion, data):
    features, _ = data
    challenge = start_challenge(NAME, 3, mode="shadow", settings=settings)
    with Clients(champion.url, features) as clients:
        time.sleep(2)
        with session_scope(settings) as session:
            pids = session.get(Deployment, challenge.deployment_id).pids
        for record in pids:
            os.kill(record["pid"], signal.SIGKILL)
        time.sleep(3)
        judged = judge_once(settings, model=NAME)
        time.sleep(1)
    assert clients.failures == [] and {version for _, version in clients.answers.values()} == {2}
    assert judged[0].done == "end: ended: the challenger's 1 server(s) are gone"


def test_a_deploy_during_a_challenge_ends_it_and_stops_the_challenger(settings, champion):
    challenge = start_challenge(NAME, 3, mode="shadow", percent=50, settings=settings)
    deploy_model(f"{NAME}/1", settings=settings)
    ended = challenges_of(NAME, settings=settings, limit=1)[0]
    assert ended.id == challenge.id and ended.status == "ended" and "replaced by deployment" in ended.outcome
    assert _gateway(champion.url)["challenger"] is None


def test_promote_and_end_need_an_active_challenge(settings, champion):
    with pytest.raises(NoChallengeError):
        promote_challenger(NAME, settings=settings)

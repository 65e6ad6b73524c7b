"""The Models page's JSON API on a real api-server with the plugin, as each role, over real HTTP.

Every route, its 401/403/415/422 answers, and each action's effect in the registry, the metadata
DB, Airflow (DAG runs, the generated DAG, the audit log) and the live endpoint. The tests share
one stack and run in order; the deploy tests go from a first deploy to an undeploy.
"""

from __future__ import annotations

import io
import json
import sqlite3
import time
import zipfile
from datetime import datetime, timedelta, timezone
from hashlib import sha256
from urllib.parse import quote

import httpx
import pytest

from registry.metadata.db import session_scope
from registry.metadata.events import events_for
from stack import airflow
from tests.plugins.conftest import DRIFTED, MODEL, seed_monitoring

pytestmark = pytest.mark.timeout(900)
ROW = {"age": 0.02, "sex": -0.04, "bmi": 0.06, "bp": 0.02, "s1": -0.04,
       "s2": -0.03, "s3": -0.04, "s4": 0.0, "s5": 0.02, "s6": -0.02}

READS = [
    "/whoami", "/models", f"/models/{MODEL}", f"/models/{MODEL}/versions/1/plots/residuals.png",
    f"/models/{MODEL}/versions/1/modeldoc", f"/models/{MODEL}/versions/1/download",
    "/workflow-runs/deploy_model/no_such_run", "/schedules/preview?cron=0%202%20*%20*%20*", "/workflows",
    f"/models/{MODEL}/monitoring", f"/models/{MODEL}/challenge", "/workflow-runs/challenge_model/no_such_run",
]
CHANGES = [
    ("POST", f"/models/{MODEL}/deploy", {"ref": "1"}),
    ("POST", f"/models/{MODEL}/rollback", {}),
    ("POST", f"/models/{MODEL}/undeploy", {}),
    ("PUT", f"/models/{MODEL}/versions/1/description", {"description": "changed"}),
    ("PUT", f"/models/{MODEL}/aliases/champion", {"version": 1}),
    ("DELETE", f"/models/{MODEL}/aliases/champion", {}),
    ("POST", "/associations", {"model_ref": f"{MODEL}/1", "input_path": "/x", "output_path": "/y"}),
    ("DELETE", "/associations/nightly", {}),
    ("POST", "/associations/nightly/run", {}),
    ("POST", f"/models/{MODEL}/expectations", {"expectation_type": "expect_column_values_to_not_be_null",
                                              "kwargs": {"column": "bmi"}}),
    ("DELETE", "/expectations/1", {}),
    ("POST", f"/models/{MODEL}/labels", {"labels": [{"request_id": "r1", "label": 1.5}]}),
    ("PUT", f"/models/{MODEL}/monitoring/thresholds", {"psi": 0.3}),
    ("POST", f"/models/{MODEL}/monitoring/run", {}),
    ("POST", f"/models/{MODEL}/challenge", {"ref": "1"}),
    ("POST", f"/models/{MODEL}/challenge/promote", {}),
    ("POST", f"/models/{MODEL}/challenge/end", {}),
]


def _events(platform) -> list:
    with session_scope(platform.settings) as session:
        return events_for(session, model_name=MODEL)


def _audit(platform, event: str) -> list[dict]:
    """Airflow's own audit log entries of one event, oldest first (filtered by Airflow: the shared
    platform's log passes 1,000 entries of every kind, and a page of them missed the newest)."""
    with platform.rest() as rest:
        return rest.get("/api/v2/eventLogs", event=event, limit=1000, order_by="dttm")["event_logs"]


def _data(platform, *parts) -> str:
    return "/".join([platform.settings.data_roots[0], *parts])


def test_every_route_needs_a_login(platform):
    with platform.client(None) as anonymous:
        for path in READS:
            assert anonymous.get(path).status_code == 401, path
        for method, path, body in CHANGES:
            assert anonymous.request(method, path, json=body).status_code == 401, path


@pytest.mark.parametrize("user", ["viewer1", "user1"])
def test_viewer_and_user_read_everything_and_change_nothing(platform, user):
    def changes():  # a download is recorded too, as a read
        return [event for event in _events(platform) if event.action != "downloaded"]

    before = changes()
    with platform.client(user) as client:
        assert client.get("/whoami").json() == {"user": user, "role": user.removesuffix("1"), "can_change": False}
        for path in READS:
            expected = 404 if "no_such_run" in path else 200
            assert client.get(path).status_code == expected, path
        for method, path, body in CHANGES:
            response = client.request(method, path, json=body)
            assert response.status_code == 403, (path, response.text)
            assert "needs the op or admin role" in response.json()["detail"]
    assert changes() == before
    with platform.rest() as rest:
        assert rest.runs("deploy_model") == []


def test_op_and_admin_may_change(platform):
    for user in ("op1", "admin1"):
        with platform.client(user) as client:
            assert client.get("/whoami").json()["can_change"] is True


def test_changes_take_a_json_body(platform):
    with platform.client("admin1") as client:
        form = client.put(f"/models/{MODEL}/versions/1/description", data={"description": "from a form"})
        assert form.status_code == 415 and "JSON body" in form.json()["detail"]
        empty = client.post(f"/models/{MODEL}/undeploy")
        assert empty.status_code == 415
        unknown_field = client.put(f"/models/{MODEL}/aliases/champion", json={"version": 1, "extra": True})
        assert unknown_field.status_code == 422 and unknown_field.json()["detail"]["field"] == "extra"
    assert not any(event.details.get("length") == len("from a form") for event in _events(platform))


def test_the_list_shows_every_model_with_its_metric(platform):
    with platform.client("viewer1") as client:
        listed = client.get("/models").json()
    assert listed["total"] == 2
    rows = {row["name"]: row for row in listed["models"]}
    assert set(rows) == {MODEL, "breast_cancer_classifier"}
    row = rows[MODEL]
    assert (row["latest_version"], row["versions"], row["flavor"], row["task"], row["origin"]) == (
        2, 2, "sklearn", "regression", "trained")
    assert row["key_metric"] == "validation_rmse" and row["key_metric_value"] > 0
    assert (row["deployment"], row["associations"], row["last_run"]) == (None, [], None)
    assert rows["breast_cancer_classifier"]["key_metric"] == "validation_roc_auc"


def test_the_detail_view_has_every_version_its_metrics_and_plots(platform):
    with platform.client("viewer1") as client:
        detail = client.get(f"/models/{MODEL}").json()
        assert [version["version"] for version in detail["versions"]] == [2, 1]
        first = detail["versions"][1]
        assert "rmse" in first["validation_metrics"] and set(first["validation_metrics"]) == set(
            first["training_metrics"])
        assert [plot["name"] for plot in first["plots"]] == ["feature_importance", "residuals"]
        png = client.get(f"/models/{MODEL}/versions/1/plots/residuals.png")
        assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert client.get(f"/models/{MODEL}/versions/1/plots/nothing.png").status_code == 404
        history = [(e["action"], e["model_version"]) for e in detail["events"] if e["action"] != "downloaded"]
        assert history == [("registered", 2), ("registered", 1)]
        missing = client.get("/models/no_such_model")
    assert missing.status_code == 404 and missing.json()["detail"]["field"] == "name"


def test_modeldoc_in_three_formats_and_its_description_edited_in_place(platform):
    with platform.client("viewer1") as viewer:
        html = viewer.get(f"/models/{MODEL}/versions/1/modeldoc")
        assert html.headers["content-type"].startswith("text/html") and "<html" in html.text
        markdown = viewer.get(f"/models/{MODEL}/versions/1/modeldoc", params={"format": "md", "download": 1})
        assert markdown.headers["content-disposition"] == f'attachment; filename="{MODEL}-v1-modeldoc.md"'
        assert viewer.get(f"/models/{MODEL}/versions/1/modeldoc", params={"format": "json"}).json()["model"][
            "version"] == 1
    text = "Ridge on the diabetes data <script>alert(1)</script>"
    with platform.client("op1") as op:
        changed = op.put(f"/models/{MODEL}/versions/1/description", json={"description": text})
    assert changed.status_code == 200 and changed.json()["description"] == text
    with platform.client("viewer1") as viewer:
        html = viewer.get(f"/models/{MODEL}/versions/1/modeldoc").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    with platform.client("viewer1") as viewer:
        markdown = viewer.get(f"/models/{MODEL}/versions/1/modeldoc", params={"format": "md"}).text
        as_json = viewer.get(f"/models/{MODEL}/versions/1/modeldoc", params={"format": "json"}).json()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown and "<script>" not in markdown
    assert as_json["model"]["description"] == text  # data, served as application/json
    described = [event for event in _events(platform) if event.action == "description_set"]
    assert described[0].actor == "op1"
    assert [entry["owner"] for entry in _audit(platform, "modelyard.describe")] == ["op1"]


def test_download_streams_the_checksummed_zip(platform):
    with platform.client("viewer1") as client:
        response = client.get(f"/models/{MODEL}/versions/2/download")
    assert response.headers["content-disposition"] == f'attachment; filename="{MODEL}-v2.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = json.loads(archive.read("MANIFEST.json"))
    assert (manifest["name"], manifest["version"], manifest["created_by"]) == (MODEL, 2, "viewer1")
    for entry in manifest["files"]:
        assert sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
    assert {"model/MLmodel", "modeldoc.html", "modeldoc.json", "requirements.txt"} <= {e["path"] for e in manifest["files"]}
    newest = next(e for e in _events(platform) if e.action == "downloaded")
    assert (newest.actor, newest.model_version) == ("viewer1", 2)
    assert newest.details == {"file": f"{MODEL}-v2.zip", "bytes": len(response.content),
                              "sha256": sha256(response.content).hexdigest()}  # not a path on the server


def test_an_alias_is_set_and_moved(platform):
    with platform.client("admin1") as client:
        assert client.put(f"/models/{MODEL}/aliases/champion", json={"version": 1}).json()["aliases"] == ["champion"]
        moved = client.put(f"/models/{MODEL}/aliases/champion", json={"version": 2})
        assert moved.json()["aliases"] == ["champion"] and moved.json()["version"] == 2
        bad = client.put(f"/models/{MODEL}/aliases/latest", json={"version": 2})
        assert bad.status_code == 422 and bad.json()["detail"]["field"] == "alias"
        assert "'latest' is reserved" in bad.json()["detail"]["message"]
        assert client.get("/models").json()["models"][1]["aliases"] == {"champion": 2}
    moves = [event for event in _events(platform) if event.action == "alias_set"]
    assert [(e.actor, e.model_version, e.details["previous_version"]) for e in moves] == [
        ("admin1", 2, 1), ("admin1", 1, None)]


def test_an_alias_is_removed_by_op_with_an_event_and_an_audit_entry(platform):
    with platform.client("op1") as client:
        client.put(f"/models/{MODEL}/aliases/challenger", json={"version": 1}).raise_for_status()
        removed = client.request("DELETE", f"/models/{MODEL}/aliases/challenger", json={})
        assert removed.status_code == 200 and removed.json() == {"name": MODEL, "alias": "challenger", "version": 1}
        assert "challenger" not in client.get(f"/models/{MODEL}").json()["model"]["aliases"]
        again = client.request("DELETE", f"/models/{MODEL}/aliases/challenger", json={})
        assert again.status_code == 404 and again.json()["detail"] == {
            "field": "alias", "message": f"model '{MODEL}' has no alias 'challenger'"}
        unknown = client.request("DELETE", "/models/no_such_model/aliases/champion", json={})
        assert unknown.status_code == 404 and unknown.json()["detail"]["field"] == "name"
        assert client.delete(f"/models/{MODEL}/aliases/champion").status_code == 415  # no JSON body
    (event, *_) = [event for event in _events(platform) if event.action == "alias_removed"]
    assert (event.actor, event.model_version, event.details) == ("op1", 1, {"alias": "challenger"})
    assert [entry["owner"] for entry in _audit(platform, "modelyard.unalias")][-3:] == ["op1"] * 3


def test_a_change_waiting_for_the_audit_log_holds_up_no_other_request(platform):
    """CI once saw every request, the scheduler's included, stall 60 s: Airflow's own audit
    dependency committed in the event loop while an execution-API request of the same server held
    SQLite's write lock. The audit row is now written from a thread: while Airflow's database is
    locked the change waits, and the rest of the api-server answers."""
    import sqlite3
    from concurrent.futures import ThreadPoolExecutor

    lock = sqlite3.connect(platform.settings.home / "airflow" / "airflow.db", isolation_level=None)
    with platform.client("op1") as changer, platform.client("viewer1") as reader, ThreadPoolExecutor(1) as pool:
        lock.execute("BEGIN IMMEDIATE")  # what a writer in another process holds
        try:
            change = pool.submit(changer.put, f"/models/{MODEL}/aliases/waiting", json={"version": 1})
            time.sleep(1.0)  # let the change reach the audit write
            preview = reader.get("/schedules/preview", params={"cron": "0 2 * * *"}, timeout=20)
            assert preview.status_code == 200 and not change.done()
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert change.result(timeout=60).status_code == 200
        assert changer.request("DELETE", f"/models/{MODEL}/aliases/waiting", json={}).status_code == 200
    (entry,) = _audit(platform, "modelyard.alias")[-1:]
    assert entry["owner"] == "op1" and json.loads(entry["extra"]) == {
        "name": MODEL, "alias": "waiting", "version": 1, "method": "PUT"}


def test_schedule_preview_and_the_form_choices(platform):
    with platform.client("viewer1") as client:
        preview = client.get("/schedules/preview", params={"cron": "0 2 * * *"}).json()
        assert preview["valid"] and len(preview["next_runs"]) == 3
        assert all(when.endswith("T02:00:00+00:00") for when in preview["next_runs"])
        bad = client.get("/schedules/preview", params={"cron": "every day"}).json()
        assert not bad["valid"] and "invalid schedule 'every day'" in bad["error"]
        assert client.get("/schedules/preview", params={"cron": ""}).json() == {"valid": True, "next_runs": [],
                                                                                "error": None}
        choices = client.get("/workflows").json()
    assert choices == {"workflows": ["batch_scoring"], "policies": ["fail", "quarantine"],
                       "formats": ["parquet", "csv"], "data_roots": platform.settings.data_roots}


@pytest.mark.parametrize("change, field, status", [
    ({"schedule": "every morning"}, "schedule", 422),
    ({"input_path": "/etc"}, "input_path", 422),
    ({"output_path": "relative/out"}, "output_path", 422),
    ({"policy": "ignore"}, "policy", 422),
    ({"output_format": "xlsx"}, "output_format", 422),
    ({"model_ref": "no_such_model@champion"}, "model_ref", 404),
    ({"model_ref": f"{MODEL}@nobody"}, "model_ref", 404),
    ({"name": "has space"}, "name", 422),
])
def test_a_bad_association_is_refused_naming_its_field(platform, change, field, status):
    body = {"model_ref": f"{MODEL}@champion", "input_path": _data(platform, "in"),
            "output_path": _data(platform, "out"), **change}
    with platform.client("admin1") as client:
        response = client.post("/associations", json=body)
        assert (response.status_code, response.json()["detail"]["field"]) == (status, field), response.text
        assert client.get("/models").json()["models"][1]["associations"] == []


def test_associate_makes_a_dag_that_appears_unpaused_and_runs_now(platform, tmp_path):
    from pipelines.training import load_dataset

    features, _ = load_dataset("diabetes")
    features.to_parquet(_data(platform, "visits.parquet"))
    body = {"model_ref": f"{MODEL}@champion", "schedule": "0 2 * * *", "input_path": _data(platform, "visits.parquet"),
            "output_path": _data(platform, "scored", "{{ ds }}"), "policy": "quarantine", "name": "nightly"}
    with platform.client("admin1") as client:
        made = client.post("/associations", json=body)
        assert made.status_code == 201, made.text
        association = made.json()
        assert (association["dag_id"], association["airflow_url"], association["created_by"]) == (
            "score__nightly", "dags/score__nightly", "admin1")
        assert association["next_run"].endswith("T02:00:00Z")
        again = client.post("/associations", json=body)
        assert again.status_code == 409 and again.json()["detail"]["field"] == "name"
        started = time.monotonic()
        with platform.rest() as rest:
            rest.wait_for_dag("score__nightly", timeout=60)
            appeared = time.monotonic() - started
            assert rest.get("/api/v2/dags/score__nightly")["is_paused"] is False
        print(f"score__nightly appeared in Airflow {appeared:.1f} s after the association was saved")
        row = next(row for row in client.get("/models").json()["models"] if row["name"] == MODEL)
        assert [(a["name"], a["schedule"]) for a in row["associations"]] == [("nightly", "0 2 * * *")]

        run = client.post("/associations/nightly/run", json={})
        assert run.status_code == 202, run.text
        assert [(step["name"], step["label"]) for step in run.json()["steps"]] == [
            ("resolve_model", "Resolve model"), ("validate_input", "Validate input"), ("score_batch", "Score"),
            ("record_metrics", "Record metrics")]
        finished = platform.wait_run(client, run.json())
        assert finished["state"] == "success" and finished["requested_by"] == "admin1", finished
        record = finished["scoring_run"]  # what the page shows when the run is done
        assert (record["rows_in"], record["rows_scored"] + record["rows_rejected"]) == (442, 442), record
        today = datetime.now(timezone.utc).date().isoformat()
        assert record["output_path"] == _data(platform, "scored", today) and record["status"] == "succeeded"
        row = next(row for row in client.get("/models").json()["models"] if row["name"] == MODEL)
    assert row["last_run"]["status"] == "succeeded" and row["last_run"]["model_version"] == 2
    assert row["last_run"]["rows_scored"] + row["last_run"]["rows_rejected"] == row["last_run"]["rows_in"] == 442
    actions = {(e.action, e.actor) for e in _events(platform) if e.action in ("associated", "scored")}
    assert {("associated", "admin1"), ("scored", "admin1")} <= actions
    with platform.rest() as rest:
        assert [run["run_type"] for run in rest.runs("score__nightly")] == ["manual"]  # no scheduled run at once


def test_a_new_association_first_runs_at_the_slot_the_form_shows(platform):
    """Its last slot passed two minutes ago: the first run is the next slot, not that one."""
    passed = datetime.now(timezone.utc) - timedelta(minutes=2)
    body = {"model_ref": f"{MODEL}/1", "schedule": f"{passed.minute} {passed.hour} * * *", "name": "slot_passed",
            "input_path": _data(platform, "in"), "output_path": _data(platform, "out", "{{ ds }}")}
    with platform.client("admin1") as client:
        made = client.post("/associations", json=body)
        assert made.status_code == 201, made.text
        shown = datetime.fromisoformat(made.json()["next_run"])
        preview = client.get("/schedules/preview", params={"cron": body["schedule"]}).json()["next_runs"][0]
    assert shown == datetime.fromisoformat(preview) and shown > datetime.now(timezone.utc)
    with platform.rest() as rest:
        rest.wait_for_dag("score__slot_passed", timeout=60)
        dag = rest.get("/api/v2/dags/score__slot_passed")
        assert datetime.fromisoformat(dag["next_dagrun_run_after"]) == shown, dag
        time.sleep(10)  # several scheduler loops: a run for the slot that passed would be made in the first
        assert rest.runs("score__slot_passed") == []
    with platform.client("admin1") as client:
        assert client.request("DELETE", "/associations/slot_passed", json={}).status_code == 200


def test_removing_an_association_takes_its_dag_away(platform):
    with platform.client("admin1") as client:
        removed = client.request("DELETE", "/associations/nightly", json={})
        assert removed.status_code == 200, removed.text
        with platform.rest() as rest:  # at once: paused and stale, so not listed
            _wait_until_unlisted(rest, "score__nightly")
            kept = rest.get("/api/v2/dags", dag_id_pattern="score__nightly", exclude_stale=False)["dags"]
            assert [(dag["is_paused"], dag["is_stale"]) for dag in kept] == [(True, True)]
            # A parse that read the snapshot before the removal lands after it, as the dag-processor's
            # sync writes it (CI saw one list the DAG again for a minute): it is retired again.
            with sqlite3.connect(airflow.airflow_home(platform.settings) / "airflow.db") as db:
                db.execute("update dag set is_stale = 0, last_parsed_time = ? where dag_id = 'score__nightly'",
                           (datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f"),))
            _wait_until_unlisted(rest, "score__nightly")
            assert rest.get("/api/v2/dags/score__nightly")["is_paused"] is True
        assert client.request("DELETE", "/associations/nightly", json={}).status_code == 404
        row = next(row for row in client.get("/models").json()["models"] if row["name"] == MODEL)
    assert row["associations"] == []


def _wait_until_unlisted(rest, dag_id: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while rest.get("/api/v2/dags", dag_id_pattern=dag_id)["dags"] and time.monotonic() < deadline:
        time.sleep(0.25)
    assert rest.get("/api/v2/dags", dag_id_pattern=dag_id)["dags"] == []


def test_a_removed_association_runs_no_more_though_its_minute_comes(platform):
    """Every minute: removed within the minute it appeared, its next slot passes without a run,
    and the dag-processor's next parse of the snapshot does not bring it back."""
    body = {"model_ref": f"{MODEL}/1", "schedule": "* * * * *", "name": "every_minute",
            "input_path": _data(platform, "in"), "output_path": _data(platform, "out", "{{ ds }}")}
    with platform.client("admin1") as client, platform.rest() as rest:
        while not 5 <= datetime.now(timezone.utc).second <= 30:  # well inside a minute, far from its slot
            time.sleep(1)
        assert client.post("/associations", json=body).status_code == 201
        rest.wait_for_dag("score__every_minute", timeout=20)
        assert client.request("DELETE", "/associations/every_minute", json={}).status_code == 200
        removed_at = datetime.now(timezone.utc)
        assert rest.get("/api/v2/dags", dag_id_pattern="score__every_minute")["dags"] == []
        next_slot = removed_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
        time.sleep((next_slot - datetime.now(timezone.utc)).total_seconds() + 20)
        assert rest.runs("score__every_minute") == []
        assert rest.get("/api/v2/dags", dag_id_pattern="score__every_minute")["dags"] == []
        assert rest.get("/api/v2/dags/score__every_minute")["is_paused"] is True


def test_expectations_are_attached_and_removed_by_name(platform):
    with platform.client("op1") as client:
        made = client.post(f"/models/{MODEL}/expectations", json={
            "expectation_type": "expect_column_values_to_be_between", "kwargs": {"column": "bmi", "max_value": 1}})
        assert made.status_code == 201 and made.json()["model_name"] == MODEL
        typo = client.post(f"/models/{MODEL}/expectations", json={
            "expectation_type": "expect_column_values_to_be_between", "kwargs": {"colum": "bmi"}})
        assert typo.status_code == 400 and "extra fields not permitted" in typo.json()["detail"]
        assert [e["id"] for e in client.get(f"/models/{MODEL}").json()["expectations"]] == [made.json()["id"]]
        assert client.request("DELETE", f"/expectations/{made.json()['id']}", json={}).status_code == 200
        assert client.get(f"/models/{MODEL}").json()["expectations"] == []


def _answer(url: str) -> int:
    response = httpx.post(f"{url}/predict", json=[ROW], timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["model_version"]


def test_a_deploy_runs_on_the_scheduler_as_the_user(platform):
    """Switching versions and rolling back through this API: tests/stack/test_real_services.py."""
    from tests.servers import free_port

    port = free_port()
    with platform.client("admin1") as client:
        assert client.post(f"/models/{MODEL}/deploy", json={"ref": "9"}).json()["detail"] == {
            "field": "ref", "message": f"model '{MODEL}' has no version 9"}
        assert client.post(f"/models/{MODEL}/deploy", json={"ref": "not an alias"}).json()["detail"]["field"] == "ref"
        assert client.post(f"/models/{MODEL}/rollback", json={}).status_code == 409

        started = time.monotonic()
        no_replica = client.post(f"/models/{MODEL}/deploy", json={"ref": "1", "replicas": 0})
        assert no_replica.status_code == 422 and no_replica.json()["detail"]["field"] == "replicas"
        run = client.post(f"/models/{MODEL}/deploy", json={"ref": "1", "port": port, "replicas": 2})
        assert run.status_code == 202, run.text
        assert [step["label"] for step in run.json()["steps"]] == [
            "Swap into spares", "Build", "Launch", "Health", "Parity", "Promote"]
        first = platform.wait_run(client, run.json())
        print(f"deploy through the page: {time.monotonic() - started:.1f} s from request to live")
        assert first["state"] == "success" and first["requested_by"] == "admin1", first
        assert [step["state"] for step in first["steps"]] == ["success"] * 6  # a first deploy: no spares to swap into
        deployment = first["deployment"]
        assert deployment["url"] == f"http://127.0.0.1:{port}" and deployment["created_by"] == "admin1"
        assert len(deployment["replicas"]) == 2  # the form's number reached the DAG's launch task
        assert deployment["curl"].startswith(f"curl -s -X POST {deployment['url']}/predict")
        time.sleep(3)  # every task process of the run has exited; the server is not theirs
        assert _answer(deployment["url"]) == 1
        taken = client.post("/models/breast_cancer_classifier/deploy", json={"ref": "1", "port": port})
        assert (taken.status_code, taken.json()["detail"]["field"]) == (409, "port")

        row = next(row for row in client.get("/models").json()["models"] if row["name"] == MODEL)
        assert (row["deployment"]["status"], row["deployment"]["model_version"], row["deployment"]["healthy"]) == (
            "running", 1, True)
        assert [replica["healthy"] for replica in row["deployment"]["replicas"]] == [True, True]
        assert row["deployment"]["endpoint_port"] == port  # the gateway's; each replica has its own behind it
        assert port not in [replica["port"] for replica in row["deployment"]["replicas"]]
        assert (row["rollback"]["to_version"], row["rollback"]["deployment_id"]) == (None, None)
        assert "no earlier deployed version to roll back to" in row["rollback"]["reason"]
        refused = client.post(f"/models/{MODEL}/rollback", json={})
        assert refused.status_code == 409 and row["rollback"]["reason"] in refused.json()["detail"]

    actions = [(e.action, e.actor) for e in _events(platform) if e.action in ("deployed", "rolled_back")]
    assert actions == [("deployed", "admin1")]
    with platform.rest() as rest:
        assert [run["triggering_user_name"] for run in rest.runs("deploy_model")] == ["admin1"]
    deploys = _audit(platform, "modelyard.deploy")  # every attempt, the refused ones too, as Airflow logs them
    assert {entry["owner"] for entry in deploys} == {"admin1"} and len(deploys) >= 3
    assert {json.loads(entry["extra"])["ref"] for entry in deploys} >= {"9", "1"}
    assert [entry["owner"] for entry in _audit(platform, "modelyard.rollback")] == ["admin1"] * 2  # the refused ones


def test_a_failed_deploy_names_its_step_and_the_previous_version_keeps_serving(platform):
    from pathlib import Path

    from pipelines.training import DEMO_MODELS, train_demo_model

    broken = train_demo_model(DEMO_MODELS[MODEL], platform.settings)
    [skops_file] = Path(broken.artifact_uri.removeprefix("file://")).rglob("model.skops")
    skops_file.write_bytes(b"PK\x03\x04 not a model any more")
    from bento_services import spares
    from tests.servers import until

    # the model serves with warm spares (the platform's setting), so the deploy loads into them
    assert until(lambda: sum(spares.is_ready(spare) for spare in spares.recorded(MODEL, platform.settings)) >= 2,
                 timeout=180.0)
    with platform.client("admin1") as client:
        failed = platform.wait_run(client, client.post(f"/models/{MODEL}/deploy", json={"ref": str(broken.version)}).json())
        row = next(row for row in client.get("/models").json()["models"] if row["name"] == MODEL)
    assert failed["state"] == "failed" and failed["failure"]["step"] == "load", failed
    assert "load: " in failed["failure"]["reason"]
    assert [step["state"] for step in failed["steps"]] == ["failed"] + ["upstream_failed"] * 5
    assert (row["deployment"]["status"], row["deployment"]["model_version"]) == ("running", 1)  # still serving
    from registry.deployments import list_deployments

    serving = [d for d in list_deployments(settings=platform.settings) if d.status == "running"]
    assert [(d.model_version, d.healthy) for d in serving] == [(1, True)] and _answer(serving[0].url) == 1


def test_undeploy_stops_the_endpoint_frees_its_port_and_removes_production(platform):
    from registry.deployments import list_deployments
    from tests.servers import free_port

    serving = next(d for d in list_deployments(settings=platform.settings, live=False) if d.status == "running")
    port = int(serving.url.rsplit(":", 1)[1])
    with platform.client("admin1") as client:
        assert client.get(f"/models/{MODEL}").json()["model"]["aliases"]["production"] == 1
        stopped = platform.wait_run(client, client.post(f"/models/{MODEL}/undeploy", json={}).json())
        assert stopped["state"] == "success" and [s["name"] for s in stopped["steps"]] == ["undeploy"]
        done = stopped["undeployed"]
        assert (done["freed_port"], done["production_removed_from"], done["deployment"]["status"]) == (
            port, 1, "stopped")
        assert done["message"] == (f"stopped {MODEL}/1; port {port} is free for any later deploy; "
                                   "alias production removed from version 1")
        assert "production" not in client.get(f"/models/{MODEL}").json()["model"]["aliases"]
        assert client.post(f"/models/{MODEL}/undeploy", json={}).status_code == 409
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{serving.url}/readyz", timeout=2.0)
    (event,) = [e for e in _events(platform) if e.action == "undeployed"]
    assert (event.actor, event.details["freed_port"], event.details["production_removed_from"]) == ("admin1", port, 1)
    assert event.details["request_id"] == stopped["run_id"]

    elsewhere = free_port()  # the freed port no longer ties the model to it
    with platform.client("admin1") as client:
        again = platform.wait_run(client, client.post(f"/models/{MODEL}/deploy",
                                                      json={"ref": "1", "port": elsewhere, "replicas": 1}).json())
        assert again["state"] == "success", again
        assert again["deployment"]["url"] == f"http://127.0.0.1:{elsewhere}"
        assert client.get(f"/models/{MODEL}").json()["model"]["aliases"]["production"] == 1
        assert _answer(again["deployment"]["url"]) == 1
        final = platform.wait_run(client, client.post(f"/models/{MODEL}/undeploy", json={}).json())
        assert final["undeployed"]["freed_port"] == elsewhere


def test_a_run_id_of_another_dag_is_refused(platform):
    with platform.client("viewer1") as client:
        response = client.get(f"/workflow-runs/train_models/{quote('manual__x', safe='')}")
    assert response.status_code == 422 and response.json()["detail"]["field"] == "dag_id"


# --- monitoring ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def monitored(platform):
    return seed_monitoring(platform.settings, MODEL)


def test_monitoring_reads_records_thresholds_and_open_alerts(platform, monitored):
    with platform.client("viewer1") as client:
        answer = client.get(f"/models/{MODEL}/monitoring")
        missing = client.get("/models/no_such_model/monitoring")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [record["id"] for record in body["records"]] == [record.id for record in monitored]
    assert [record["source"] for record in body["records"]].count("batch") == 1
    newest = body["records"][-1]["figures"]
    assert set(newest["feature_psi"]) >= set(DRIFTED) and newest["requests"] == monitored[-1].figures.requests
    assert {alert["subject"] for alert in body["open_alerts"] if alert["rule"] == "feature_psi"} == set(DRIFTED)
    assert all(alert["message"] for alert in body["open_alerts"])
    assert body["thresholds"]["psi"] == 0.25 and body["thresholds"]["error_rate"] == 0.01
    assert body["traffic"] is None  # nothing serves: no live traffic
    assert body["dag_id"] == "monitor_deployments"
    assert missing.status_code == 404 and missing.json()["detail"]["field"] == "name"


def test_the_list_carries_each_models_health(platform, monitored):
    with platform.client("viewer1") as client:
        rows = {row["name"]: row for row in client.get("/models").json()["models"]}
    health = rows[MODEL]["monitoring"]
    assert health["open_alerts"] == len(monitored[-1].alerts) == 4
    assert health["alert_rules"] == ["drifted_share", "feature_psi"]
    assert health["traffic_source"] == "window"
    assert health["requests_per_min"] == pytest.approx(monitored[-1].figures.requests_per_min)
    assert health["error_rate"] == pytest.approx(monitored[-1].figures.error_rate)
    assert rows["breast_cancer_classifier"]["monitoring"]["open_alerts"] == 0


@pytest.mark.parametrize("body, status, field", [
    ({"ref": "1", "percent": 0}, 422, "percent"), ({"ref": "1", "mode": "mirror"}, 422, "mode"),
    ({"ref": "1", "rule": {"min_labelled": 1}}, 422, "rule"), ({"ref": "1"}, 409, None),
])
def test_a_bad_challenge_is_refused_naming_its_field_before_any_run(platform, body, status, field):
    """(The model was undeployed by the tests before: a good body is refused for want of a champion.)"""
    with platform.client("op1") as client:
        answer = client.post(f"/models/{MODEL}/challenge", json=body)
        nothing = client.post(f"/models/{MODEL}/challenge/end", json={})
    assert answer.status_code == status, answer.text
    if field:
        assert answer.json()["detail"]["field"] == field
    else:
        assert "has no running deployment to challenge" in answer.json()["detail"]
    assert nothing.status_code == 409 and "has no active challenge" in nothing.json()["detail"]
    with platform.rest() as rest:
        assert rest.runs("challenge_model") == []


@pytest.mark.parametrize("body, field", [
    ({"psi": -1}, "psi"), ({"error_rate": 2}, "error_rate"), ({"drifted_share": "lots"}, "drifted_share"),
    ({"nonsense": 1}, "nonsense"), ({}, "thresholds"),
])
def test_a_bad_threshold_is_refused_naming_its_field(platform, body, field):
    with platform.client("op1") as client:
        answer = client.put(f"/models/{MODEL}/monitoring/thresholds", json=body)
        after = client.get(f"/models/{MODEL}/monitoring").json()["thresholds"]
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]["field"] == field
    assert after["psi"] == 0.25  # nothing half-written


def test_op_changes_thresholds_and_the_change_is_recorded(platform):
    with platform.client("op1") as client:
        answer = client.put(f"/models/{MODEL}/monitoring/thresholds",
                            json={"psi": 0.3, "metric_floors": {"rmse": 80.0}})
        assert answer.status_code == 200, answer.text
        assert client.get(f"/models/{MODEL}/monitoring").json()["thresholds"] == {**answer.json(), "webhook_url_set": False}
        assert client.put("/models/no_such_model/monitoring/thresholds", json={"psi": 0.3}).status_code == 404
        client.put(f"/models/{MODEL}/monitoring/thresholds", json={"psi": 0.25, "metric_floors": {}})
    assert answer.json()["psi"] == 0.3 and answer.json()["metric_floors"] == {"rmse": 80.0}
    changed = [event for event in _events(platform) if event.action == "thresholds_set"]
    assert changed and changed[-1].actor == "op1"
    assert _audit(platform, "modelyard.set_thresholds")[-1]["owner"] == "op1"


def test_a_webhook_url_is_shown_only_to_those_who_may_change_it(platform):
    hook = "https://hooks.slack.example/services/T000/B000/secret"
    with platform.client("admin1") as admin, platform.client("viewer1") as viewer:
        assert admin.put(f"/models/{MODEL}/monitoring/thresholds", json={"webhook_url": hook}).status_code == 200
        try:
            seen_by_admin = admin.get(f"/models/{MODEL}/monitoring").json()["thresholds"]
            seen_by_viewer = viewer.get(f"/models/{MODEL}/monitoring").json()["thresholds"]
        finally:
            admin.put(f"/models/{MODEL}/monitoring/thresholds", json={"webhook_url": None})
    assert (seen_by_admin["webhook_url"], seen_by_admin["webhook_url_set"]) == (hook, True)
    assert (seen_by_viewer["webhook_url"], seen_by_viewer["webhook_url_set"]) == (None, True)


def test_labels_are_stored_for_the_monitoring_pass(platform):
    import pandas as pd

    from registry.request_logs import filesystem, log_root

    labels = [{"request_id": "a1", "label": 151.0}, {"request_id": "b2", "label": 75.5, "row": 2}]
    with platform.client("admin1") as client:
        answer = client.post(f"/models/{MODEL}/labels", json={"labels": labels})
    assert answer.status_code == 201, answer.text
    added = answer.json()
    assert added["labels"] == 2 and f"_labels/model={MODEL}/" in added["path"]
    fs, _ = filesystem(log_root(platform.settings), platform.settings)
    with fs.open(added["path"], "rb") as stored:
        frame = pd.read_parquet(stored)
    assert frame["request_id"].tolist() == ["a1", "b2"] and frame["label"].tolist() == ["151.0", "75.5"]
    assert frame["row"].tolist() == [0, 2]  # a label without a row is for the request's first (only) row
    assert [e.actor for e in _events(platform) if e.action == "labels_added"][-1] == "admin1"


@pytest.mark.parametrize("body, needle", [
    ({"labels": [{"label": 1.0}]}, "request_id"),
    ({"labels": [{"request_id": "", "label": 1.0}]}, "request_id"),
    ({"labels": [{"request_id": "a", "label": 1.0, "row": -1}]}, "row"),
    ({"labels": [{"request_id": "a"}]}, "label"),
    ({"labels": []}, "labels"),
    ({"rows": []}, "labels"),  # the list it needs, first
])
def test_bad_labels_are_refused_naming_the_field(platform, body, needle):
    with platform.client("admin1") as client:
        answer = client.post(f"/models/{MODEL}/labels", json=body)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert detail["field"] == "labels" and needle in detail["message"], detail


def test_run_monitoring_now_starts_the_monitoring_dag_as_the_user(platform):
    """...and the page follows it to the end: the pass is a mapped task (one instance per model),
    shown as one step with its instances' state, not "not started" beside a finished run."""
    with platform.client("op1") as client:
        answer = client.post(f"/models/{MODEL}/monitoring/run", json={})
    assert answer.status_code == 202, answer.text
    run = answer.json()
    assert run["dag_id"] == "monitor_deployments" and run["requested_by"] == "op1"
    with platform.rest() as rest:
        assert rest.get(f"/api/v2/dags/monitor_deployments/dagRuns/{quote(run['run_id'], safe='')}")["conf"] == {
            "model": MODEL}
    with platform.client("viewer1") as client:  # the page follows it as any run
        followed = client.get(f"/workflow-runs/monitor_deployments/{quote(run['run_id'], safe='')}")
        assert followed.status_code == 200 and followed.json()["steps"], followed.text
        ended = platform.wait_run(client, followed.json(), timeout=300)
    steps = {step["name"]: step["state"] for step in ended["steps"]}
    assert steps == {"monitored_models": "success", "retrain_on_schedule": "success",
                     "monitor_model": "success" if ended["state"] == "success" else "failed"}, ended

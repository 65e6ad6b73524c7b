"""The model service over real HTTP: predictions equal the in-process predictor's, bad input is a 4xx."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.bento_services.conftest import MAX_BODY_BYTES, MODEL_REF, serving
from tests.servers import until



@pytest.fixture(scope="module")
def client(bento_server):
    with httpx.Client(base_url=bento_server.url, timeout=30.0) as client:
        yield client


def _assert_same(predictions: list[dict], expected: pd.DataFrame) -> None:
    served = pd.DataFrame(predictions)
    assert list(served.columns) == ["prediction", "probability_0", "probability_1"]
    assert served["prediction"].tolist() == expected["prediction"].tolist()
    for column in ["probability_0", "probability_1"]:
        assert served[column].tolist() == pytest.approx(expected[column].tolist(), rel=1e-12, abs=1e-12)


def test_ready_within_the_platform_figure(bento_server):
    print(f"bentoml serve ready in {bento_server.ready_seconds:.1f} s")
    assert bento_server.ready_seconds < 90
    assert len(bento_server.processes) >= 2  # the arbiter and at least one worker, by PID


@pytest.mark.parametrize("count", [1, 40])
@pytest.mark.parametrize("shape", ["list", "records", "columns"])
def test_predict_matches_the_in_process_predictor(client, rows, expected, shape, count):
    chosen = rows.iloc[:count]
    body = {
        "list": chosen.to_dict(orient="records"),
        "records": {"records": chosen.to_dict(orient="records")},
        "columns": {"columns": chosen.to_dict(orient="list")},
    }[shape]
    response = client.post("/predict", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["model_name"], answer["model_version"]) == ("breast_cancer_classifier", 1)
    assert len(answer["predictions"]) == count
    _assert_same(answer["predictions"], expected.iloc[:count])


def test_extra_fields_are_ignored(client, rows, expected):
    record = {**rows.iloc[0].to_dict(), "patient_id": "p-17"}
    response = client.post("/predict", json=[record])
    assert response.status_code == 200, response.text
    _assert_same(response.json()["predictions"], expected.iloc[:1])


def _mlflow_bodies(rows: pd.DataFrame) -> dict[str, dict]:
    return {
        "dataframe_split": {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))},
        "dataframe_records": {"dataframe_records": rows.to_dict(orient="records")},
        "instances": {"instances": rows.to_dict(orient="records")},
        "instances_unnamed": {"instances": rows.to_numpy().tolist()},
        "inputs": {"inputs": rows.to_dict(orient="list")},
    }


@pytest.mark.parametrize("form", ["dataframe_split", "dataframe_records", "instances", "instances_unnamed", "inputs"])
def test_invocations_answers_like_mlflow(client, rows, expected, form):
    chosen = rows.iloc[:7]
    response = client.post("/invocations", json=_mlflow_bodies(chosen)[form])
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected["prediction"].iloc[:7].tolist()}


def test_metadata_names_the_version_and_signature(client, bento_server):
    from mlflow.models import Model

    answer = client.get("/metadata").json()
    signature = Model.load(str(bento_server.model_dir)).signature
    assert answer["name"] == "breast_cancer_classifier" and answer["version"] == 1
    assert (answer["flavor"], answer["task"], answer["classes"]) == ("sklearn", "classification", [0, 1])
    assert [spec["name"] for spec in answer["signature"]["inputs"]] == signature.inputs.input_names()
    assert {spec["type"] for spec in answer["signature"]["inputs"]} == {"double"}
    assert [spec["name"] for spec in answer["signature"]["outputs"]] == ["prediction", "probability_0", "probability_1"]


def test_bentoml_health_and_metrics_routes(client):
    assert client.get("/readyz").status_code == 200
    assert client.get("/livez").status_code == 200
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "# TYPE" in metrics.text and "bentoml_" in metrics.text


def _access_lines(log: Path, path: str) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if f"method=POST,path={path}," in line]


def test_spans_are_made_only_when_tracing_is_on(bento_server, model_dir, client, rows, tmp_path):
    """BentoML's access line names the request's trace when its OpenTelemetry middleware made a
    span: by default none is made (they were 2/3 of its stack's CPU, and sample rate 0 drops them)."""
    body = json.loads(rows.head(1).to_json(orient="records"))
    assert client.post("/predict", json=body).status_code == 200
    log = bento_server.request_log_dir.parent / "serve.log"
    assert until(lambda: _access_lines(log, "/predict"), timeout=5)
    assert not [line for line in _access_lines(log, "/predict") if "trace=" in line]
    name, version = MODEL_REF
    with serving(model_dir, name, version, tmp_path, MODELYARD_SERVE_TRACING="true",
                 MODELYARD_SERVE_REQUEST_LOG="false") as traced:
        assert httpx.post(f"{traced.url}/predict", json=body, timeout=30).status_code == 200
        assert until(lambda: _access_lines(tmp_path / "serve.log", "/predict"), timeout=5)
        assert all("trace=" in line for line in _access_lines(tmp_path / "serve.log", "/predict"))


def _record(rows: pd.DataFrame, **changes) -> dict:
    record = rows.iloc[0].to_dict()
    for name, value in changes.items():
        if value is _DROP:
            del record[name]
        else:
            record[name] = value
    return record


_DROP = object()

BAD_PREDICT_BODIES = {
    "missing field": (lambda rows: [_record(rows, mean_radius=_DROP)], 422, "mean_radius"),
    "missing in one record": (lambda rows: [_record(rows), _record(rows, worst_area=_DROP)], 422, "worst_area row 1: missing"),
    "list as a value": (lambda rows: [_record(rows, mean_texture=[1, 2])], 422, "mean_texture row 0: expected a number"),
    "boolean as a value": (lambda rows: [_record(rows, mean_area=True)], 422, "mean_area row 0: expected a number, got the boolean true"),
    "null": (lambda rows: [_record(rows, mean_area=None)], 422, "mean_area row 0: expected a number, got null"),
    "non-numeric string": (lambda rows: [_record(rows, mean_area="large")], 422, "non-numeric string 'large'"),
    "record not an object": (lambda rows: [_record(rows), 42], 400, "row(s) [1]"),
    "no rows": (lambda rows: [], 400, "no rows"),
    "number as body": (lambda rows: 3.5, 400, "expected a list of records"),
    "unknown envelope": (lambda rows: {"rows": [_record(rows)]}, 400, "expected a list of records"),
    "ragged columns": (lambda rows: {"columns": {"mean_radius": [1.0, 2.0], "mean_area": [1.0]}}, 400, "same length"),
}


@pytest.mark.parametrize("case", list(BAD_PREDICT_BODIES))
def test_bad_predict_input_is_a_4xx_that_names_the_problem(client, rows, expected, case):
    make, status, named = BAD_PREDICT_BODIES[case]
    response = client.post("/predict", json=make(rows))
    assert response.status_code == status, response.text
    assert named in response.json()["error"]
    assert response.json()["problems"]
    _assert_still_serving(client, rows, expected)


@pytest.mark.parametrize("content, named", [
    (b"", "empty request body"),
    (b"   ", "empty request body"),
    (b'[{"mean_radius": ', "malformed JSON"),
    (b"\xff\xfe not utf-8", "malformed JSON"),
    (b'[{"mean_radius": NaN}]', "expected a finite number"),
])
def test_unparseable_bodies_are_400_or_422(client, rows, expected, content, named):
    response = client.post("/predict", content=content, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert named in response.json()["error"]
    _assert_still_serving(client, rows, expected)


@pytest.mark.parametrize("body, named", [
    ({"records": []}, "exactly one of"),
    ({"dataframe_records": [], "inputs": {}}, "exactly one of"),
    ([{"mean_radius": 1.0}], "exactly one of"),
    ({"dataframe_split": [[1.0]]}, "split format must be a dictionary"),
    ({"dataframe_records": [{"mean_radius": "x"}]}, "missing feature"),
    ({"instances": [[1.0, 2.0]]}, "rows of 30 values"),
    ({"inputs": {"mean_radius": [[1.0], [2.0]]}}, "mean_radius row 0: expected a number, got a list"),
])
def test_bad_invocations_answer_in_mlflow_error_shape(client, rows, expected, body, named):
    response = client.post("/invocations", json=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error_code"] == "BAD_REQUEST" and named in answer["message"]
    _assert_still_serving(client, rows, expected)


def test_wrong_type_through_invocations_is_named(client, rows, expected):
    body = {"dataframe_records": [_record(rows, mean_smoothness="smooth")]}
    response = client.post("/invocations", json=body)
    assert response.status_code == 400
    assert "mean_smoothness row 0" in response.json()["message"]


def _assert_still_serving(client, rows, expected) -> None:
    assert client.get("/readyz").status_code == 200
    response = client.post("/predict", json=rows.iloc[:1].to_dict(orient="records"))
    assert response.status_code == 200
    _assert_same(response.json()["predictions"], expected.iloc[:1])


def test_a_body_over_the_limit_is_413_and_named(client, rows, expected):
    many = rows.to_dict(orient="records") * 400  # about 2.5 MB of JSON
    response = client.post("/predict", json=many)
    assert response.status_code == 413, response.text[:300]
    assert f"exceeds the limit of {MAX_BODY_BYTES:,} bytes" in response.json()["error"]
    chunked = client.post("/invocations", content=iter([b'{"dataframe_records": [', b" " * MAX_BODY_BYTES, b"]}"]))
    assert chunked.status_code == 413 and "exceeds the limit" in chunked.json()["message"]
    _assert_still_serving(client, rows, expected)


def test_concurrent_single_rows_share_model_calls(bento_server, rows, expected):
    """Adaptive batching: the service's rows-per-call histogram counts fewer model calls than requests."""
    import asyncio

    def calls_and_rows() -> tuple[float, float]:
        text = httpx.get(f"{bento_server.url}/metrics").text
        values = {}
        for line in text.splitlines():
            for kind in ("count", "sum"):
                if line.startswith(f"modelyard_model_call_rows_{kind}"):
                    values[kind] = values.get(kind, 0.0) + float(line.rsplit(" ", 1)[1])
        return values.get("count", 0.0), values.get("sum", 0.0)

    async def send_all():
        async with httpx.AsyncClient(base_url=bento_server.url, timeout=30.0) as client:
            return await asyncio.gather(*(client.post("/predict", json=[rows.iloc[index % 40].to_dict()])
                                          for index in range(160)))

    calls_before, rows_before = calls_and_rows()
    responses = asyncio.run(send_all())
    failed = [(response.status_code, response.text[:300]) for response in responses if response.status_code != 200]
    assert not failed, failed[:3]
    served = [response.json()["predictions"][0] for response in responses]
    _assert_same(served, expected.iloc[[index % 40 for index in range(160)]])
    calls, scored_rows = calls_and_rows()
    print(f"160 concurrent requests -> {calls - calls_before:.0f} model calls")
    assert scored_rows - rows_before == 160
    assert calls - calls_before < 160 / 4


def test_requests_and_answers_are_logged_to_parquet(bento_server, client, rows, expected):
    """The contract's layout and columns (registry.request_logs): one row per scored row under the
    hour partition, a refused request as one row with its status and error, the caller's
    x-request-id logged and answered, a new one when none is given."""
    import time
    import uuid

    from registry.request_logs import COLUMNS, read_request_log
    from registry.settings import Settings

    given = uuid.uuid4().hex
    response = client.post("/predict", json=rows.iloc[:3].to_dict(orient="records"), headers={"x-request-id": given})
    assert response.status_code == 200 and response.headers["x-request-id"] == given
    refused = client.post("/invocations", json={"dataframe_records": [{"mean_radius": "wide"}]})
    assert refused.status_code == 400
    generated = refused.headers["x-request-id"]
    assert len(generated) == 32 and generated != given

    settings = Settings(home=bento_server.request_log_dir.parent / "platform",
                        request_log_root=str(bento_server.request_log_dir))
    deadline, logged = time.monotonic() + 20, pd.DataFrame()
    while time.monotonic() < deadline and not {given, generated} <= set(logged.get("request_id", [])):
        time.sleep(0.5)
        logged = read_request_log(settings, "breast_cancer_classifier")
    mine = logged[logged["request_id"] == given].sort_values("row")
    assert mine["row"].tolist() == [0, 1, 2]
    assert mine["input_mean_radius"].tolist() == rows["mean_radius"].iloc[:3].tolist()
    assert mine["output_prediction"].tolist() == expected["prediction"].iloc[:3].tolist()
    assert (mine["status"] == 200).all() and (mine["latency_ms"] > 0).all() and mine["error"].isna().all()
    assert set(mine["route"]) == {"/predict"} and set(mine["version"]) == {1}
    assert list(logged.columns[:len(COLUMNS)]) == list(COLUMNS)
    assert {f"input_{name}" for name in rows.columns} | {"output_prediction", "output_probability_1"} <= set(logged)
    [bad] = logged[logged["request_id"] == generated].to_dict(orient="records")
    assert (bad["status"], bad["route"], bad["row"]) == (400, "/invocations", 0)
    assert "mean_radius" in bad["error"] and pd.isna(bad["input_mean_radius"])
    hour = pd.Timestamp(mine["received_at"].iloc[0]).strftime("%Y-%m-%dT%H")
    assert set(mine["hour"]) == {hour}
    assert not list(bento_server.request_log_dir.rglob(".*.tmp"))  # only whole files are visible


def test_an_s3_log_root_gets_whole_files_and_loses_nothing_at_stop(model_dir, s3_settings, tmp_path, rows):
    """Beside S3 artifacts the log goes to ``<artifact root>/request_logs`` (moto on loopback), each
    file one PUT; a flush interval longer than the test shows the shutdown flush writes it all."""
    from datetime import datetime, timedelta, timezone

    from registry.request_logs import enforce_retention, log_root, read_request_log
    from tests.conftest import BUCKET

    settings, client, prefix = s3_settings
    root = log_root(settings)
    assert root == f"s3://{BUCKET}/{prefix}/request_logs"
    with serving(model_dir, "breast_cancer_classifier", 1, tmp_path / "server", MODELYARD_REQUEST_LOG_ROOT=root,
                 MODELYARD_S3_ENDPOINT_URL=settings.s3_endpoint_url,
                 MODELYARD_SERVE_REQUEST_LOG_FLUSH_SECONDS="600") as server:
        ids = [httpx.post(f"{server.url}/predict", json=rows.iloc[:2].to_dict(orient="records"),
                          timeout=30).headers["x-request-id"] for _ in range(3)]
    logged = read_request_log(settings, "breast_cancer_classifier")
    assert sorted(logged["request_id"]) == sorted(ids * 2) and sorted(logged["row"]) == [0, 0, 0, 1, 1, 1]
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/request_logs")["Contents"]]
    assert keys and all(key.split("/")[-1].startswith("part-") for key in keys)
    assert all("/model=breast_cancer_classifier/version=1/hour=" in key for key in keys)
    assert enforce_retention(settings) == []  # nothing is older than 30 days
    expired = enforce_retention(settings, now=datetime.now(timezone.utc) + timedelta(days=31))
    assert len(expired) == len({key.rsplit("/", 1)[0] for key in keys})
    assert "Contents" not in client.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/request_logs/model=")

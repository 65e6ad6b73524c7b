"""Properties of a real ``bentoml serve``: any body gets a 200 or a 4xx naming the problem, never a 5xx.

Hypothesis writes the bodies; the server is the module's ``bento_server``, so a 5xx, a hang or a
dead worker here is a service bug. The focused properties after the general ones each pin a bug
the general ones found (a 500 or a 4xx that named the wrong field), fixed since.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from pipelines.training import load_dataset
from infra.processes import is_running
from registry.predictors import load_predictor

PROPERTY = {"deadline": None, "database": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}
FOCUSED = {**PROPERTY, "phases": [Phase.generate]}  # a few fresh examples per run, no shrinking
V2_INFER = "/v2/models/breast_cancer_classifier/infer"
MESSAGE_KEY = {"/predict": "error", "/invocations": "message", V2_INFER: "error"}
ROUTES = {
    "list": "/predict", "records": "/predict", "columns": "/predict",
    "dataframe_split": "/invocations", "dataframe_records": "/invocations",
    "instances": "/invocations", "instances_unnamed": "/invocations", "inputs": "/invocations",
}
RECORD_SHAPES = ("list", "records", "dataframe_records", "instances")  # each row is a JSON object
TENSOR_SHAPES = ("instances", "instances_unnamed", "inputs")  # parsed by MLflow into numpy arrays
FINITE = st.floats(allow_nan=False, allow_infinity=False)
FLOAT32_OVERFLOW = 2.0**128 - 2.0**103  # the smallest double that float32 rounds to infinity
WITHIN_FLOAT32 = st.floats(-FLOAT32_OVERFLOW, FLOAT32_OVERFLOW, exclude_min=True, exclude_max=True)
BEYOND_FLOAT32 = (st.floats(min_value=FLOAT32_OVERFLOW, allow_infinity=False)
                  | st.floats(max_value=-FLOAT32_OVERFLOW, allow_infinity=False))  # a known bug, tested on its own
SAFE_INTEGERS = st.integers(-(10**300), 10**300)  # beyond float range is a known bug, tested on its own
JSON_KEYS = st.sampled_from(["records", "columns", "dataframe_split", "dataframe_records", "instances",
                             "inputs", "params", "data", "index", "mean_radius", "worst_area"]) | st.text(max_size=8)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | SAFE_INTEGERS | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(JSON_KEYS, inner, max_size=6),
    max_leaves=30,
)
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)  # unknown keys, quoted as-is in messages


def _not_a_finite_number(text: str) -> bool:
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return True


BAD_VALUES = {
    "text": st.text(max_size=20).filter(_not_a_finite_number),
    "null": st.none(),
    "boolean": st.booleans(),
    "list": st.lists(FINITE, max_size=3),
    "object": st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    "non-finite": st.sampled_from([math.nan, math.inf, -math.inf]),
}


@dataclass
class Dataset:
    names: list[str]  # the served feature order, from GET /metadata
    records: list[dict[str, float]]
    labels: list[Any]  # the in-process predictor's prediction for each record

    def _repr_pretty_(self, printer, cycle) -> None:
        """How Hypothesis shows this fixture in a failing example: a size, not 569 records."""
        printer.text(f"Dataset({len(self.records)} rows of {len(self.names)} features)")


@dataclass
class Case:
    shape: str
    body: Any  # a JSON value (NaN/Infinity written as JSON tokens) or raw bytes
    statuses: set[int]
    named: tuple[str, ...] = ()  # each appears in the error message
    rows: int = 0  # predictions a 200 carries
    blamed: tuple[str, int] | None = None  # the only (feature, row) a 4xx may blame


@pytest.fixture(scope="module")
def client(bento_server):
    # A fresh connection per request: after an unhandled 500 the server drops its connection, and a
    # kept-alive one would fail the next, unrelated request.
    no_keepalive = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=bento_server.url, timeout=20.0, limits=no_keepalive) as client:
        yield client


@pytest.fixture(scope="module")
def dataset(bento_server, client) -> Dataset:
    names = client.get("/metadata").json()["feature_names"]
    features, _ = load_dataset("breast_cancer")
    frame = features[names]
    labels = load_predictor(bento_server.model_dir).predict(frame)["prediction"].tolist()
    return Dataset(names, frame.to_dict(orient="records"), labels)


def _post(client: httpx.Client, route: str, body: Any, content_type: str | None = "application/json") -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post(route, content=content, headers={"content-type": content_type} if content_type else {})
    event(f"{route} -> {response.status_code}")  # shown by --hypothesis-show-statistics
    return response


def _message(response: httpx.Response, route: str) -> str:
    """The 4xx body's message: JSON with a non-empty ``error`` (/predict) or ``message`` (/invocations)."""
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text[:800]}"
    assert response.headers["content-type"].startswith("application/json"), response.text[:800]
    message = response.json()[MESSAGE_KEY[route]]
    assert isinstance(message, str) and message.strip(), response.text
    return message


def _assert_answered(response: httpx.Response, route: str) -> None:
    """200, or a 4xx whose JSON says what is wrong; never a 5xx."""
    if response.status_code == 200:
        assert isinstance(response.json()["predictions"], list)
    else:
        _message(response, route)


def _render(shape: str, rows: list[dict[str, Any]]) -> Any:
    """The rows as the body ``shape`` names; a record's keys, in order, are its columns."""
    if shape in RECORD_SHAPES:
        return rows if shape == "list" else {shape: rows}
    if shape == "instances_unnamed":
        return {"instances": [list(row.values()) for row in rows]}
    names = list(dict.fromkeys(name for row in rows for name in row))
    columns = {name: [row[name] for row in rows] for name in names}
    if shape == "dataframe_split":
        return {"dataframe_split": {"columns": names, "data": [list(row) for row in zip(*columns.values())]}}
    return {shape: columns}


def _case(shape: str, rows: list[dict], statuses: set[int], named: tuple[str, ...] = (), **more) -> Case:
    return Case(shape, _render(shape, rows), statuses, named, rows=len(rows), **more)


def _check(client: httpx.Client, case: Case) -> None:
    route = ROUTES[case.shape]
    response = _post(client, route, case.body)
    assert response.status_code in case.statuses, f"{response.status_code}: {response.text[:800]}"
    if response.status_code == 200:
        assert len(response.json()["predictions"]) == case.rows
        return
    message = _message(response, route)
    for text in case.named:
        assert text in message, message
    if case.blamed:
        _assert_only_blamed(response, message, *case.blamed, rows=case.rows)


def _assert_only_blamed(response: httpx.Response, message: str, name: str, row: int, *, rows: int) -> None:
    if "problems" in response.json():
        assert [(p["field"], p["row"]) for p in response.json()["problems"]] == [(name, row)], response.text
    for other in set(range(rows)) - {row}:
        assert f"{name} row {other}:" not in message, message


def _rows(dataset: Dataset, min_size: int = 1, max_size: int = 4) -> st.SearchStrategy[list[dict]]:
    """Real rows (copies, so a mutation changes only this example)."""
    indices = st.lists(st.integers(0, len(dataset.records) - 1), min_size=min_size, max_size=max_size)
    return indices.map(lambda chosen: [dict(dataset.records[index]) for index in chosen])


def _cell(draw, rows: list[dict], names: list[str]) -> tuple[int, str]:
    return draw(st.integers(0, len(rows) - 1), label="row"), draw(st.sampled_from(names), label="feature")


def _one_cell(data, dataset: Dataset, shapes=tuple(ROUTES), min_rows: int = 1) -> tuple[str, list[dict], int, str]:
    """A body shape, real rows and the (row, feature) a test puts its value in, all drawn."""
    shape = data.draw(st.sampled_from(sorted(shapes)), label="shape")
    rows = data.draw(_rows(dataset, min_size=min_rows), label="rows")
    row, name = _cell(data.draw, rows, dataset.names)
    return shape, rows, row, name


# Mutations of real rows: each changes one thing and says what the service should answer.

def _bad_value(draw, shape, rows, names) -> Case:
    row, name = _cell(draw, rows, names)
    kind = draw(st.sampled_from(sorted(BAD_VALUES)), label="kind")
    rows[row][name] = draw(BAD_VALUES[kind], label="value")
    return _case(shape, rows, {400, 422}, (f"{name} row {row}",), blamed=(name, row))


def _numeric_text(draw, shape, rows, names) -> Case:
    row, name = _cell(draw, rows, names)
    spell = draw(st.sampled_from([repr, "{:.17e}".format, " {} ".format]), label="spelling")
    rows[row][name] = spell(rows[row][name])
    return _case(shape, rows, {200})


def _other_number(draw, shape, rows, names) -> Case:
    row, name = _cell(draw, rows, names)
    rows[row][name] = draw(WITHIN_FLOAT32 | st.integers(-(2**63), 2**63 - 1), label="value")
    return _case(shape, rows, {200})


def _drop(draw, shape, rows, names) -> Case:
    name = draw(st.sampled_from(names), label="feature")
    for row in rows:
        del row[name]
    named = (f"rows of {len(names)} values",) if shape == "instances_unnamed" else (name,)
    return _case(shape, rows, {400, 422}, named)


def _drop_in_one_row(draw, shape, rows, names) -> Case:
    row, name = _cell(draw, rows, names)
    del rows[row][name]
    return _case(shape, rows, {400, 422}, (name,))


def _rename(draw, shape, rows, names) -> Case:
    name = draw(st.sampled_from(names), label="feature")
    new = draw(NAMES.filter(lambda key: key not in names), label="new name")
    rows[:] = [{(new if key == name else key): value for key, value in row.items()} for row in rows]
    return _case(shape, rows, {400, 422}, (name,))


def _extra_field(draw, shape, rows, names) -> Case:
    key = draw(NAMES.filter(lambda key: key not in names), label="key")
    scalars = st.none() | st.booleans() | st.floats() | st.text(max_size=10)
    value = draw(JSON_VALUES if ROUTES[shape] == "/predict" else scalars, label="value")
    for row in rows:
        row[key] = value
    if shape == "instances_unnamed":
        return _case(shape, rows, {400, 422}, (f"rows of {len(names)} values",))
    return _case(shape, rows, {200})


def _extra_envelope_field(draw, shape, rows, names) -> Case:
    taken = {"records", "columns", "params", *ROUTES}
    key = draw(NAMES.filter(lambda key: key not in taken), label="key")
    case = _case(shape, rows, {400})
    case.body[key] = draw(JSON_VALUES, label="value")
    case.named = (key,) if ROUTES[shape] == "/invocations" else ()
    return case


def _wrap_body(draw, shape, rows, names) -> Case:
    case = _case(shape, rows, {400, 422})
    case.body = [case.body]
    return case


def _wrap_rows(draw, shape, rows, names) -> Case:
    case = _case(shape, rows, {400, 422})
    body = case.body
    if shape == "list":
        case.body = [body]
    elif shape in ("columns", "inputs"):
        body[shape] = {name: [values] for name, values in body[shape].items()}
    elif shape == "dataframe_split":
        body[shape]["data"] = [body[shape]["data"]]
    else:
        key = next(iter(body))
        body[key] = [body[key]]
    return case


MUTATIONS = [_bad_value, _numeric_text, _other_number, _drop, _rename, _extra_field, _wrap_body, _wrap_rows]


def _mutations_for(shape: str) -> list:
    chosen = [m for m in MUTATIONS if not (m is _rename and shape == "instances_unnamed")]
    if shape in RECORD_SHAPES:
        chosen.append(_drop_in_one_row)
    return chosen + ([_extra_envelope_field] if shape != "list" else [])


@settings(max_examples=300, **PROPERTY)
@given(route=st.sampled_from(sorted(MESSAGE_KEY)), body=JSON_VALUES)
def test_any_json_value_is_answered_without_a_5xx(client, route, body):
    _assert_answered(_post(client, route, body), route)


@settings(max_examples=200, **PROPERTY)
@given(route=st.sampled_from(sorted(MESSAGE_KEY)), body=st.binary(max_size=300),
       content_type=st.sampled_from(["application/json", "text/plain", "application/octet-stream", None]))
def test_arbitrary_bytes_are_a_4xx(client, route, body, content_type):
    _message(_post(client, route, body, content_type), route)


@settings(max_examples=300, **PROPERTY)
@given(data=st.data())
def test_mutated_real_rows_get_200_or_a_4xx_naming_the_field(client, dataset, data):
    shape = data.draw(st.sampled_from(sorted(ROUTES)), label="shape")
    mutate = data.draw(st.sampled_from(_mutations_for(shape)), label="mutation")
    event(mutate.__name__)
    rows = data.draw(_rows(dataset), label="rows")
    _check(client, mutate(data.draw, shape, rows, dataset.names))


@settings(max_examples=100, **PROPERTY)
@given(data=st.data(), shape=st.sampled_from(sorted(ROUTES)))
def test_valid_payloads_get_one_prediction_per_row(client, dataset, data, shape):
    indices = data.draw(st.lists(st.integers(0, len(dataset.records) - 1), min_size=1, max_size=50), label="rows")
    response = _post(client, ROUTES[shape], _render(shape, [dataset.records[index] for index in indices]))
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    labels = [p["prediction"] for p in predictions] if ROUTES[shape] == "/predict" else predictions
    assert labels == [dataset.labels[index] for index in indices]


# Bugs the properties above found, each pinned by a focused property (all fixed).

@settings(max_examples=20, **FOCUSED)
@given(data=st.data(), value=st.integers(10**309, 10**4000) | st.integers(-(10**4000), -(10**309)))
def test_integers_beyond_float_range_are_a_4xx_naming_the_field(client, dataset, data, value):
    shape, rows, row, name = _one_cell(data, dataset)
    rows[row][name] = value
    _check(client, _case(shape, rows, {400, 422}, (f"{name} row {row}",)))


@settings(max_examples=10, **FOCUSED)
@given(data=st.data(), value=BEYOND_FLOAT32)
def test_numbers_beyond_float32_are_scored_or_a_4xx_naming_the_field(client, dataset, data, value):
    shape, rows, row, name = _one_cell(data, dataset)
    rows[row][name] = value
    _check(client, _case(shape, rows, {200, 400, 422}, (f"{name} row {row}",)))


@settings(max_examples=5, **FOCUSED)
@given(data=st.data(), value=BEYOND_FLOAT32, position=st.integers(4, 12))  # not first: the first call goes alone
def test_a_bad_row_never_fails_concurrent_callers(client, dataset, data, value, position):
    row, name = _cell(data.draw, dataset.records, dataset.names)
    bodies = [[dataset.records[row]]] * 16
    bodies.insert(position, [{**dataset.records[row], name: value}])
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda body: client.post("/predict", json=body), bodies))
    assert [answer.status_code for answer in answers[:position] + answers[position + 1:]] == [200] * 16


@settings(max_examples=10, **FOCUSED)
@given(data=st.data(), digits=st.integers(4301, 20_000))
def test_integer_literals_past_the_digit_limit_are_a_4xx(client, dataset, data, digits):
    shape, rows, row, name = _one_cell(data, dataset)
    rows[row][name] = "<digits>"
    body = json.dumps(_render(shape, rows)).replace('"<digits>"', "7" * digits).encode()
    _message(_post(client, ROUTES[shape], body), ROUTES[shape])


@settings(max_examples=10, **FOCUSED)
@given(route=st.sampled_from(sorted(MESSAGE_KEY)), depth=st.integers(2_000, 100_000),
       brackets=st.sampled_from([("[", "]"), ('{"records":', "}"), ('{"a":[', "]}")]))
def test_deeply_nested_json_is_a_4xx(client, route, depth, brackets):
    opening, closing = brackets
    body = (opening * depth + "1" + closing * depth).encode()
    _message(_post(client, route, body), route)


@settings(max_examples=10, **FOCUSED)
@given(data=st.data(), value=st.booleans())
def test_booleans_in_tensor_formats_are_a_4xx_naming_the_field(client, dataset, data, value):
    shape, rows, row, name = _one_cell(data, dataset, TENSOR_SHAPES)
    rows[row][name] = value
    _check(client, _case(shape, rows, {400, 422}, (f"{name} row {row}",)))


@settings(max_examples=10, **FOCUSED)
@given(data=st.data(), value=st.lists(FINITE, max_size=3))
def test_lists_in_tensor_formats_are_a_4xx_naming_the_field(client, dataset, data, value):
    shape, rows, row, name = _one_cell(data, dataset, TENSOR_SHAPES)
    rows[row][name] = value
    _check(client, _case(shape, rows, {400, 422}, (f"{name} row {row}",)))


@settings(max_examples=10, **FOCUSED)
@given(data=st.data(),
       value=st.none() | st.dictionaries(NAMES, st.integers(), max_size=2) | st.integers(2**64, 10**300))
# integers up to float32's range are scored; beyond it they are refused, naming the cell
def test_instances_records_blame_only_the_bad_cell(client, dataset, data, value):
    shape, rows, row, name = _one_cell(data, dataset, ["instances"], min_rows=2)
    rows[row][name] = value
    if isinstance(value, int) and value <= FLOAT32_OVERFLOW:
        _check(client, _case(shape, rows, {200}))
    else:
        _check(client, _case(shape, rows, {400, 422}, (f"{name} row {row}",), blamed=(name, row)))


@settings(max_examples=10, **FOCUSED)
@given(data=st.data())
def test_instances_record_missing_a_key_names_it(client, dataset, data):
    shape, rows, row, name = _one_cell(data, dataset, ["instances"], min_rows=2)
    del rows[row][name]
    _check(client, _case(shape, rows, {400, 422}, (name,)))


TENSOR_SPEC = st.fixed_dictionaries(
    {"name": st.sampled_from(["input-0", "mean_radius", "x"]) | st.text(max_size=6),
     "shape": st.lists(st.integers(-2, 40), min_size=0, max_size=3) | JSON_VALUES,
     "datatype": st.sampled_from(["FP64", "FP32", "INT64", "BOOL", "BYTES", "FP99"]) | JSON_VALUES},
    optional={"data": JSON_VALUES | st.lists(FINITE, max_size=60),
              "parameters": st.fixed_dictionaries({"binary_data_size": st.integers(-5, 500) | JSON_VALUES})})


@settings(max_examples=150, **PROPERTY)
@given(body=st.fixed_dictionaries({"inputs": st.lists(TENSOR_SPEC, max_size=3) | JSON_VALUES},
                                  optional={"outputs": JSON_VALUES, "id": JSON_VALUES, "parameters": JSON_VALUES})
       | JSON_VALUES)
def test_any_v2_request_is_answered_without_a_5xx(client, body):
    response = _post(client, V2_INFER, body)
    if response.status_code == 200:
        assert isinstance(response.json()["outputs"], list)
    else:
        _message(response, V2_INFER)


@settings(max_examples=100, **PROPERTY)
@given(header=st.binary(max_size=200), tail=st.binary(max_size=300), declared=st.integers(-3, 600) | st.text(alphabet="0123456789-+.ex", max_size=5))
def test_v2_binary_bodies_with_any_header_length_are_a_4xx(client, header, tail, declared):
    response = client.post(V2_INFER, content=header + tail,
                           headers={"Inference-Header-Content-Length": str(declared), "content-type": "application/octet-stream"})
    _message(response, V2_INFER)


def test_the_server_survived(client, bento_server):
    assert client.get("/readyz").status_code == 200
    assert bento_server.processes
    assert [process.name for process in bento_server.processes if not is_running(process)] == []

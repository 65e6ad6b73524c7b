"""Request parsing and validation on tiny bodies, without a server."""

from __future__ import annotations

import pytest

from bento_services.payloads import (
    Feature, PayloadError, decode_json, rows_from_mlflow_body, rows_from_predict_body, validate_features,
)

FEATURES = [Feature("age", "long"), Feature("height", "double"), Feature("smoker", "boolean"), Feature("city", "string")]


def _validated(body):
    return validate_features(rows_from_predict_body(body), FEATURES)


def test_records_and_columns_give_the_same_typed_frame():
    records = [{"age": 40, "height": "1.8", "smoker": False, "city": "Oslo"},
               {"age": 41.0, "height": 2, "smoker": True, "city": "Bergen"}]
    columns = {"columns": {name: [record[name] for record in records] for name in records[0]}}
    frame = _validated(records)
    assert frame.equals(_validated(columns)) and frame.equals(_validated({"records": records}))
    assert frame["age"].tolist() == [40, 41] and str(frame["age"].dtype) == "int64"
    assert frame["height"].tolist() == [1.8, 2.0]


def test_every_problem_is_named_at_once():
    with pytest.raises(PayloadError) as caught:
        _validated([{"age": 40.5, "height": None, "smoker": "yes"}, {"age": "x", "height": float("inf")}])
    problems = {(p["field"], p.get("row")): p["problem"] for p in caught.value.problems}
    assert caught.value.status_code == 422
    assert problems == {
        ("city", None): "missing",
        ("age", 0): "expected an integer, got 40.5",
        ("age", 1): "expected a number, got the non-numeric string 'x'",
        ("height", 0): "expected a number, got null",
        ("height", 1): "expected a finite number, got inf",
        ("smoker", 0): "expected true or false, got str 'yes'",
        ("smoker", 1): "missing from this record",
    }
    assert str(caught.value).startswith("missing feature(s): city; invalid value(s): age row 0")


@pytest.mark.parametrize("body, message", [
    (b"", "empty request body"), (b"{", "malformed JSON"), (b"\xff", "malformed JSON"),
])
def test_undecodable_bodies(body, message):
    with pytest.raises(PayloadError, match=message):
        decode_json(body)


def test_unnamed_mlflow_rows_follow_the_feature_order():
    numeric = FEATURES[:2]
    frame = rows_from_mlflow_body({"instances": [[40, 1.8], [41, 1.7]]}, numeric)
    assert validate_features(frame, numeric).to_dict(orient="list") == {"age": [40, 41], "height": [1.8, 1.7]}


"""Request bodies to feature frames: parse JSON, check every feature's presence and type.

Pure functions over plain JSON values, so the rules are tested without a server. A request that
breaks them raises ``PayloadError``, whose problems name the field and the reason; the service
turns it into a 4xx. Nothing that reaches a predictor can make it fail on the input's account.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bento_services.payload_error import PayloadError  # noqa: F401 (raised here, imported from here too)
from bento_services.rows import Matrix, real_matrix

NUMERIC_TYPES = {"double": "float64", "float": "float64", "long": "int64", "integer": "int64"}
# Tree libraries (scikit-learn, XGBoost, LightGBM) and most ONNX graphs compute in float32: a
# magnitude float32 rounds to infinity is an overflow inside the model, so it is refused here,
# named, as a 422. The limit is that rounding's threshold (halfway past float32's largest value):
# anything smaller rounds to a finite float32 and is scored.
FLOAT_LIMIT = 2.0**128 - 2.0**103
INT_LIMITS = (-(2**63), 2**63 - 1)
MLFLOW_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_ABSENT = object()  # a record that lacks a key, told apart from an explicit null


@dataclass(frozen=True)
class Feature:
    """One model input as the signature declares it (MLflow type names)."""

    name: str
    type: str = "double"


def decode_json(body: bytes) -> Any:
    """The JSON value of a request body; empty or malformed bodies are named as such."""
    if not body.strip():
        raise PayloadError("empty request body: send JSON rows or columns",
                           [{"field": "body", "problem": "empty"}])
    try:
        return json.loads(body)
    except RecursionError:
        raise PayloadError("malformed JSON: nested too deeply", [{"field": "body", "problem": "too deep"}]) from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, integers past Python's 4,300 digits
        raise PayloadError(f"malformed JSON: {error}", [{"field": "body", "problem": str(error)}]) from error


def rows_from_predict_body(value: Any) -> pd.DataFrame:
    """``[{...}]``, ``{"records": [...]}`` or ``{"columns": {name: [...]}}`` as a raw frame."""
    if isinstance(value, list):
        return _frame_from_records(value, "body")
    if isinstance(value, dict) and set(value) == {"records"}:
        return _frame_from_records(value["records"], "records")
    if isinstance(value, dict) and set(value) == {"columns"}:
        return _frame_from_columns(value["columns"], "columns")
    raise PayloadError(
        'expected a list of records, {"records": [...]} or {"columns": {feature: [...]}}',
        [{"field": "body", "problem": f"got {_describe(value)}"}],
    )


def rows_from_mlflow_body(value: Any, features: list[Feature]) -> pd.DataFrame:
    """The four input formats of MLflow's scoring server, parsed the way it parses them."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    if not isinstance(value, dict) or len(set(value) & set(MLFLOW_FORMATS)) != 1:
        raise PayloadError(
            f"expected a JSON object with exactly one of {list(MLFLOW_FORMATS)}",
            [{"field": "body", "problem": f"got {_describe(value)}"}],
        )
    unknown = set(value) - set(MLFLOW_FORMATS) - {"params"}
    if unknown:
        raise PayloadError(f"unknown fields {sorted(unknown)}", [{"field": name, "problem": "unknown"} for name in sorted(unknown)])
    data = {key: item for key, item in value.items() if key in MLFLOW_FORMATS}
    if "instances" in data or "inputs" in data:
        return _frame_from_tensor_format(*data.items(), features)
    try:
        parsed = infer_and_parse_data(data)  # dataframe_split / dataframe_records: a DataFrame
    except (MlflowException, ValueError, TypeError) as error:
        raise PayloadError(str(getattr(error, "message", error))) from error
    return parsed.astype(object)


def features_from_records(records: Any, features: list[Feature]) -> Matrix | None:
    """The common case, in microseconds and without pandas: a non-empty list of records whose
    every feature is a JSON number within range, for a model of real-valued features, as a float
    matrix (``bento_services.rows``). None for anything else, which then takes the full path that
    names each problem."""
    if not isinstance(records, list) or not records or not real_valued(features):
        return None
    names = [feature.name for feature in features]
    try:
        rows = [[record[name] for name in names] for record in records]
    except (KeyError, TypeError):  # a missing feature, a record that is not an object
        return None
    return real_matrix(rows, names, FLOAT_LIMIT)


def real_valued(features: list[Feature]) -> bool:
    """Whether every feature is a real number: such a model's rows can travel as a float matrix."""
    return all(feature.type in ("double", "float") for feature in features)


def validate_features(frame: pd.DataFrame, features: list[Feature]) -> pd.DataFrame:
    """The model's columns, typed as the signature says; every bad cell named at once."""
    if len(frame) == 0:
        raise PayloadError("no rows to predict", [{"field": "body", "problem": "zero rows"}])
    missing = [feature.name for feature in features if feature.name not in frame.columns]
    problems, columns = [{"field": name, "problem": "missing"} for name in missing], {}
    for feature in features:
        if feature.name not in missing:
            columns[feature.name] = _typed_column(frame[feature.name], feature, problems)
    if problems:
        raise PayloadError(_summary(missing, problems[len(missing):]), problems, status_code=422)
    return pd.DataFrame(columns, index=range(len(frame)))


def _summary(missing: list[str], invalid: list[dict[str, Any]]) -> str:
    parts = [f"missing feature(s): {', '.join(missing)}"] if missing else []
    if invalid:
        shown = "; ".join(f"{p['field']} row {p['row']}: {p['problem']}" for p in invalid[:5])
        more = f" (and {len(invalid) - 5} more)" if len(invalid) > 5 else ""
        parts.append(f"invalid value(s): {shown}{more}")
    return "; ".join(parts)


def _typed_column(values: pd.Series, feature: Feature, problems: list) -> pd.Series | None:
    dtype = NUMERIC_TYPES.get(feature.type)
    if dtype is None:
        check = _check_boolean if feature.type == "boolean" else _check_string
        converted = [check(value) for value in values]
    else:
        converted = [_check_number(value, integral=dtype == "int64") for value in values]
    found = [{"field": feature.name, "row": row, "problem": problem}
             for row, (_, problem) in enumerate(converted) if problem]
    if found:
        problems.extend(found)
        return None
    return pd.Series([value for value, _ in converted], dtype=dtype or object)


def _check_number(value: Any, *, integral: bool) -> tuple[Any, str | None]:
    if value is _ABSENT:
        return None, "missing from this record"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, str, np.number)):
        return None, f"expected a number, got {_describe(value)}"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None, f"expected a number, got the non-numeric string {value[:40]!r}"
    try:
        number = float(value)
    except OverflowError:  # an integer literal of more than 308 digits
        return None, f"expected a number within ±{FLOAT_LIMIT:.4g}, got an integer of {len(str(abs(int(value))))} digits"
    if not math.isfinite(number):
        return None, f"expected a finite number, got {value}"
    if integral:
        if number != int(value):
            return None, f"expected an integer, got {value}"
        if not INT_LIMITS[0] <= int(value) <= INT_LIMITS[1]:
            return None, f"expected a 64-bit integer, got {value}"
        return int(value), None
    if abs(number) >= FLOAT_LIMIT:
        return None, f"expected a number within ±{FLOAT_LIMIT:.4g}, got {number:.6g}"
    return number, None


def _check_boolean(value: Any) -> tuple[Any, str | None]:
    if value is _ABSENT:
        return None, "missing from this record"
    if isinstance(value, (bool, np.bool_)):
        return bool(value), None
    return None, f"expected true or false, got {_describe(value)}"


def _check_string(value: Any) -> tuple[Any, str | None]:
    if value is _ABSENT:
        return None, "missing from this record"
    if isinstance(value, str):
        return value, None
    return None, f"expected a string, got {_describe(value)}"


def _frame_from_records(records: Any, where: str) -> pd.DataFrame:
    if not isinstance(records, list):
        raise PayloadError(f"{where} must be a list of records", [{"field": where, "problem": f"got {_describe(records)}"}])
    bad = [index for index, record in enumerate(records) if not isinstance(record, dict)]
    if bad:
        raise PayloadError(
            f"{where}: every record must be a JSON object; row(s) {bad[:10]} are not",
            [{"field": where, "row": index, "problem": f"got {_describe(records[index])}"} for index in bad],
        )
    names = list(dict.fromkeys(name for record in records for name in record))
    return pd.DataFrame({name: pd.Series([record.get(name, _ABSENT) for record in records], dtype=object)
                         for name in names}, index=range(len(records)))


def _frame_from_columns(columns: Any, where: str) -> pd.DataFrame:
    if not isinstance(columns, dict):
        raise PayloadError(f"{where} must map feature names to lists", [{"field": where, "problem": f"got {_describe(columns)}"}])
    lists = {name: values if isinstance(values, list) else [values] for name, values in columns.items()}
    lengths = {len(values) for values in lists.values()}
    if len(lengths) > 1:
        raise PayloadError(
            f"{where}: all columns must have the same length, got lengths {sorted(lengths)}",
            [{"field": name, "problem": f"{len(values)} values"} for name, values in lists.items()],
        )
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in lists.items()})


def _frame_from_tensor_format(item: tuple[str, Any], features: list[Feature]) -> pd.DataFrame:
    """``instances`` / ``inputs`` read as MLflow reads them, but keeping each raw JSON value, so
    a boolean, a list or a null in a cell is named like in every other format (MLflow's parser
    makes one numpy array first, turning ``true`` into 1.0 and blaming whole columns)."""
    where, value = item
    if isinstance(value, dict):
        return _frame_from_columns(value, where)  # a list in a cell is named by validate_features
    if not isinstance(value, list) or not value:
        raise PayloadError(f"{where} must be a non-empty list of rows or an object of columns",
                           [{"field": where, "problem": f"got {_describe(value)}"}])
    if all(isinstance(row, dict) for row in value):
        return _frame_from_records(value, where)
    if not any(isinstance(row, (list, dict)) for row in value):
        value = [value]  # one unnamed row
    names = [feature.name for feature in features]
    bad = [index for index, row in enumerate(value) if not isinstance(row, list) or len(row) != len(names)]
    if bad:
        raise PayloadError(
            f"{where}: an unnamed input must be rows of {len(names)} values in the order {names[:5]}"
            f"{'...' if len(names) > 5 else ''}; row(s) {bad[:10]} are not",
            [{"field": where, "row": index, "problem": f"got {_describe(value[index])}"} for index in bad[:50]])
    return pd.DataFrame({name: pd.Series([row[position] for row in value], dtype=object)
                         for position, name in enumerate(names)})


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return f"the boolean {str(bool(value)).lower()}"
    if isinstance(value, dict):
        return f"an object with keys {sorted(value)[:10]}"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    return f"{type(value).__name__} {value!r}"[:60]

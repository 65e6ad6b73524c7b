"""Validate a partition with Great Expectations and split it into valid and rejected rows.

Types are checked first, row by row (a value that is not a number cannot be compared with a
range); then the suite runs on the typed frame. A clean partition costs one BOOLEAN_ONLY pass
(half the cost of SUMMARY); only a failing one is run again for the index of every failing row.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import pandas as pd

from pipelines.scoring.checks import Checks
from pipelines.scoring.schema import ExpectationFailure
from pipelines.scoring.timing import timed

REASON = "reject_reason"
_TYPE_EXPECTATION = "expect_column_values_to_be_of_type"


@dataclass
class ValidationOutcome:
    valid: pd.DataFrame
    rejected: pd.DataFrame
    failures: list[ExpectationFailure] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # coerce_types, run_suite


def missing_columns(columns, checks: Checks) -> list[str]:
    return [name for name in checks.names if name not in set(columns)]


def coerce_types(frame: pd.DataFrame, checks: Checks) -> tuple[pd.DataFrame, dict[int, list[str]], list[ExpectationFailure]]:
    """Features in the types the model takes; rows whose values cannot be converted are named."""
    typed = frame.copy(deep=False)
    reasons: dict[int, list[str]] = {}
    failures = []
    for feature in checks.features:
        column = frame[feature.name]
        if feature.kind == "numeric" and _is_number_column(column):
            typed[feature.name] = column.astype("float64", copy=False)  # nothing can fail to convert
            continue
        if feature.kind == "numeric":
            converted = pd.to_numeric(column, errors="coerce").astype("float64")
        elif feature.kind == "boolean":
            converted = column.map(_to_bool, na_action="ignore").astype("boolean")
        else:
            converted = column.astype("string")
        bad = column.notna() & converted.isna()
        if bad.any():
            expected = "a number" if feature.kind == "numeric" else f"a {feature.kind}"
            for position in bad[bad].index:
                reasons.setdefault(position, []).append(
                    f"{feature.name}: {column[position]!r} is not {expected}"
                )
            failures.append(ExpectationFailure(
                expectation=_TYPE_EXPECTATION, column=feature.name, unexpected=int(bad.sum()),
                examples=[str(value) for value in column[bad].head(3)],
            ))
        typed[feature.name] = converted
    return typed, reasons, failures


def _is_number_column(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _to_bool(value):
    text = str(value).strip().lower()
    return {"true": True, "1": True, "false": False, "0": False}.get(text, pd.NA)


class GxSuite:
    """A Great Expectations suite for one set of checks, built once per worker thread."""

    def __init__(self, checks: Checks):
        import great_expectations as gx

        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        self.context = gx.get_context(mode="ephemeral")
        _progress_bars_off(self.context)
        asset = self.context.data_sources.add_pandas("modelyard").add_dataframe_asset("partition")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("whole")
        self.suite = self.context.suites.add(gx.ExpectationSuite(name="model_input"))
        for expectation in _expectations(checks):
            self.suite.add_expectation(expectation)

    def run(self, frame: pd.DataFrame, complete: bool):
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result_format = {"result_format": "COMPLETE", "partial_unexpected_count": 3} if complete else "BOOLEAN_ONLY"
        return batch.validate(self.suite, result_format=result_format)


def _progress_bars_off(context) -> None:
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)


def _expectations(checks: Checks) -> list:
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    found = []
    for feature in checks.features:
        if not feature.nullable:
            found.append(gx.expectations.ExpectColumnValuesToNotBeNull(column=feature.name))
        if feature.min is not None or feature.max is not None:
            found.append(gx.expectations.ExpectColumnValuesToBeBetween(
                column=feature.name, min_value=feature.min, max_value=feature.max))
        if feature.categories:
            found.append(gx.expectations.ExpectColumnValuesToBeInSet(
                column=feature.name, value_set=feature.categories))
    for config in checks.extra:
        found.append(ExpectationConfiguration(type=config["type"], kwargs=config.get("kwargs", {})).to_domain_obj())
    return found


_suites = threading.local()


def suite_for(checks: Checks) -> GxSuite:
    """The suite for these checks on this thread (GX contexts are not shared across threads)."""
    key = checks.model_dump_json()
    cache = getattr(_suites, "cache", None)
    if cache is None or cache[0] != key:
        _suites.cache = (key, GxSuite(checks))
    return _suites.cache[1]


def build_suite(checks: Checks) -> int:
    """Build (and cache) this thread's suite for ``checks``; a broken expectation raises here.
    Returns how many expectations it holds (a suite itself does not travel between processes)."""
    return len(suite_for(checks).suite.expectations)


def _describe(config) -> str:
    kwargs = config.kwargs
    if config.type == "expect_column_values_to_not_be_null":
        return "is null"
    if config.type == "expect_column_values_to_be_between":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        if low is None:
            return f"above {high:g}"
        if high is None:
            return f"below {low:g}"
        return f"outside [{low:g}, {high:g}]"
    if config.type == "expect_column_values_to_be_in_set":
        return "not a known category"
    return f"fails {config.type}"


def validate_batch(frame: pd.DataFrame, checks: Checks) -> ValidationOutcome:
    """Split ``frame`` (any index) into typed valid rows and raw rejected rows with reasons."""
    frame = frame.reset_index(drop=True)
    seconds: dict[str, float] = {}
    with timed(seconds, "coerce_types"):
        typed, reasons, failures = coerce_types(frame, checks)
    typed_failed = {
        name: {row for row, texts in reasons.items() if any(t.startswith(f"{name}: ") for t in texts)}
        for name in checks.names
    }
    suite = suite_for(checks)
    with timed(seconds, "run_suite"):
        result = suite.run(typed, complete=False)
    if not result.success:
        with timed(seconds, "run_suite"):
            result = suite.run(typed, complete=True)
        for outcome in result.results:
            if outcome.success:
                continue
            config = outcome.expectation_config
            column = config.kwargs.get("column")
            rows = outcome.result.get("unexpected_index_list") or []
            failures.append(ExpectationFailure(
                expectation=config.type, column=column,
                unexpected=int(outcome.result.get("unexpected_count") or len(rows)),
                examples=[_plain(v) for v in (outcome.result.get("partial_unexpected_list") or [])[:3]],
            ))
            label = f"{column}: {_describe(config)}" if column else _describe(config)
            for row in rows:
                position = int(row[next(iter(row))] if isinstance(row, dict) else row)
                if column and position in typed_failed.get(column, ()):
                    continue  # already rejected as not convertible; GX saw it as null
                reasons.setdefault(position, []).append(label)
    if not reasons:
        return ValidationOutcome(typed, frame.iloc[0:0].assign(**{REASON: pd.Series(dtype="string")}), failures,
                                 seconds)
    bad = pd.Index(sorted(reasons))
    rejected = frame.loc[bad].assign(**{REASON: ["; ".join(reasons[i]) for i in bad]})
    return ValidationOutcome(typed.drop(index=bad), rejected, failures, seconds)


def _plain(value):
    return value.item() if hasattr(value, "item") else value

"""Associations (with the DAG snapshot) and user-attached expectations, on the real stores."""

import json

import pytest

from registry.associations import create_association, list_associations, next_runs, remove_association, snapshot_path
from registry.errors import ConflictError, InvalidFieldError, ModelNotFoundError, ModelyardError
from registry.expectations import attach_expectation, list_expectations, remove_expectation
from registry.metadata.db import session_scope
from registry.metadata.events import events_for


@pytest.fixture
def registered(home):
    from pipelines.training import DEMO_MODELS, train_demo_model

    train_demo_model(DEMO_MODELS["diabetes_regressor"])
    return home


def _data(settings, *parts) -> str:
    return "/".join([settings.data_roots[0], *parts])


def test_associations_are_stored_snapshotted_listed_and_removed(registered):
    first = create_association("diabetes_regressor/1", input_path=_data(registered, "in"),
                               output_path=_data(registered, "out", "{{ ds }}"), schedule="0 6 * * *",
                               policy="quarantine", key_columns=["visit"], actor="ana")
    second = create_association("diabetes_regressor", input_path=_data(registered, "in2"),
                                output_path=_data(registered, "out2"), schedule=" ")
    assert (first.name, first.dag_id, first.created_by) == ("diabetes_regressor_v1", "score__diabetes_regressor_v1", "ana")
    assert first.options == {"output_format": "parquet", "key_columns": ["visit"]}
    assert second.name == "diabetes_regressor_latest" and second.schedule is None and second.next_run is None
    assert first.next_run.hour == 6 and first.next_run.minute == 0
    snapshot = json.loads(snapshot_path(registered).read_text())["associations"]
    assert [(a["dag_id"], a["schedule"]) for a in snapshot] == [
        ("score__diabetes_regressor_latest", None), ("score__diabetes_regressor_v1", "0 6 * * *")]
    assert [a.name for a in list_associations("diabetes_regressor")] == [second.name, first.name]
    remove_association(first.name, actor="bo")
    snapshot = json.loads(snapshot_path(registered).read_text())["associations"]
    assert [a["name"] for a in snapshot] == [second.name]
    with session_scope(registered) as session:
        events = events_for(session, model_name="diabetes_regressor")
    assert [(e.action, e.actor) for e in events[:3]] == [
        ("dissociated", "bo"), ("associated", registered.user), ("associated", "ana")]


@pytest.mark.parametrize(
    "kwargs, error, field, message",
    [
        ({"model_ref": "nope@champion"}, ModelNotFoundError, "model_ref", "model 'nope' is not registered"),
        ({"model_ref": "diabetes_regressor@nobody"}, ModelNotFoundError, "model_ref", "has no alias 'nobody'"),
        ({"schedule": "every morning"}, InvalidFieldError, "schedule", "invalid schedule 'every morning'"),
        ({"schedule": "61 * * * *"}, InvalidFieldError, "schedule", "invalid schedule '61"),
        ({"policy": "ignore"}, InvalidFieldError, "policy", "unknown policy 'ignore'"),
        ({"workflow": "spark"}, InvalidFieldError, "workflow", "unknown workflow 'spark'"),
        ({"name": "has space"}, InvalidFieldError, "name", "invalid association name"),
        ({"output_format": "xlsx"}, InvalidFieldError, "output_format", "unknown output format 'xlsx'"),
        ({"key_columns": ["", "b"]}, InvalidFieldError, "key_columns", "key columns must be"),
        ({"input_path": "/etc/passwd"}, InvalidFieldError, "input_path", "'/etc/passwd' is outside the data roots"),
        ({"output_path": "relative/out"}, InvalidFieldError, "output_path", "must be an absolute path"),
        ({"output_path": "DATA/../../escape"}, InvalidFieldError, "output_path", "is outside the data roots"),
        ({"input_path": "s3://other-bucket/in"}, InvalidFieldError, "input_path", "is outside the data roots"),
    ],
)
def test_bad_associations_are_refused_naming_the_field_and_leave_no_snapshot(registered, kwargs, error, field,
                                                                             message):
    arguments = {"model_ref": "diabetes_regressor/1", "input_path": _data(registered, "in"),
                 "output_path": _data(registered, "out"), **kwargs}
    arguments = {key: value.replace("DATA", registered.data_roots[0]) if isinstance(value, str) else value
                 for key, value in arguments.items()}
    with pytest.raises(error, match=message) as raised:
        create_association(arguments.pop("model_ref"), **arguments)
    assert raised.value.field == field
    assert list_associations() == [] and not snapshot_path(registered).exists()


def test_data_roots_may_be_buckets_and_folders(registered):
    settings = registered.model_copy(update={"data_roots": ["s3://lake/scoring", registered.data_roots[0]]})
    made = create_association("diabetes_regressor/1", input_path="s3://lake/scoring/in/", output_path="s3://lake/scoring/out",
                              settings=settings)
    assert (made.input_path, made.output_path) == ("s3://lake/scoring/in", "s3://lake/scoring/out")
    with pytest.raises(InvalidFieldError, match="outside the data roots"):
        create_association("diabetes_regressor/1", input_path="s3://lake/scoring-other/in",
                           output_path="s3://lake/scoring/out", settings=settings)


def test_next_runs_of_crons_and_presets():
    from datetime import datetime, timezone

    after = datetime(2026, 12, 1, 22, 30, tzinfo=timezone.utc)
    assert [t.isoformat() for t in next_runs("0 2 * * *", 3, after)] == [
        "2026-12-02T02:00:00+00:00", "2026-12-03T02:00:00+00:00", "2026-12-04T02:00:00+00:00"]
    assert next_runs("@hourly", 1, after)[0].isoformat() == "2026-12-01T23:00:00+00:00"
    assert next_runs(None) == [] and next_runs("@once") == []
    with pytest.raises(InvalidFieldError, match="invalid schedule"):
        next_runs("bad cron")


def test_duplicate_association_names_are_refused(registered):
    create_association("diabetes_regressor/1", input_path=_data(registered, "in"), output_path=_data(registered, "out"),
                       name="nightly")
    with pytest.raises(ConflictError, match="association 'nightly' exists already"):
        create_association("diabetes_regressor/1", input_path=_data(registered, "in"),
                           output_path=_data(registered, "out"), name="nightly")


def test_expectations_are_checked_by_great_expectations_when_attached(registered):
    info = attach_expectation("diabetes_regressor", "expect_column_values_to_be_between",
                              {"column": "bmi", "min_value": -1, "max_value": 1})
    assert [e.config for e in list_expectations("diabetes_regressor")] == [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "bmi", "min_value": -1, "max_value": 1}}]
    with pytest.raises(ModelyardError, match="colum: extra fields not permitted"):
        attach_expectation("diabetes_regressor", "expect_column_values_to_be_between", {"colum": "bmi", "max_value": 1})
    with pytest.raises(ModelyardError, match="expect_nothing not found"):
        attach_expectation("diabetes_regressor", "expect_nothing", {})
    remove_expectation(info.id)
    assert list_expectations("diabetes_regressor") == []


def test_an_expectation_attached_through_a_reference_belongs_to_the_model(registered):
    from registry.catalog import set_alias

    set_alias("diabetes_regressor/1", "champion")
    by_alias = attach_expectation("diabetes_regressor@champion", "expect_column_values_to_not_be_null",
                                  {"column": "bmi"})
    by_version = attach_expectation("diabetes_regressor/1", "expect_column_values_to_not_be_null", {"column": "bp"})

    assert (by_alias.model_name, by_version.model_name) == ("diabetes_regressor", "diabetes_regressor")
    assert [e.id for e in list_expectations("diabetes_regressor")] == [by_alias.id, by_version.id]
    with session_scope(registered) as session:
        attached = [event for event in events_for(session, model_name="diabetes_regressor")
                    if event.action == "expectation_attached"]
    assert len(attached) == 2


@pytest.mark.parametrize("ref, message", [
    ("diabetes_regressor@nobody", "alias"),
    ("diabetes_regressor/9", "version 9"),
    ("nope", "model 'nope' is not registered"),
    ("diabetes regressor", "invalid model reference"),
])
def test_an_expectation_for_a_reference_that_resolves_to_nothing_is_refused(registered, ref, message):
    with pytest.raises(ModelyardError, match=message):
        attach_expectation(ref, "expect_column_values_to_not_be_null", {"column": "bmi"})
    assert list_expectations("diabetes_regressor") == [] and list_expectations(ref) == []

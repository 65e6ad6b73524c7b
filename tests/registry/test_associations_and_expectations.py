"""Associations (with the DAG snapshot) and user-attached expectations, on the real stores."""

import json

import pytest

from registry.associations import (
    AssociationError, create_association, list_associations, remove_association, snapshot_path,
)
from registry.errors import ModelNotFoundError, ModelyardError
from registry.expectations import attach_expectation, list_expectations, remove_expectation
from registry.metadata.db import session_scope
from registry.metadata.events import events_for


@pytest.fixture
def registered(home):
    from pipelines.training import DEMO_MODELS, train_demo_model

    train_demo_model(DEMO_MODELS["diabetes_regressor"])
    return home


def test_associations_are_stored_snapshotted_listed_and_removed(registered):
    first = create_association("diabetes_regressor/1", input_path="/in", output_path="/out/{{ ds }}",
                               schedule="0 6 * * *", policy="quarantine")
    second = create_association("diabetes_regressor", input_path="/in2", output_path="/out2")
    assert (first.name, first.dag_id) == ("diabetes_regressor_v1", "score__diabetes_regressor_v1")
    assert second.name == "diabetes_regressor_latest" and second.schedule is None
    snapshot = json.loads(snapshot_path(registered).read_text())["associations"]
    assert [(a["dag_id"], a["schedule"]) for a in snapshot] == [
        ("score__diabetes_regressor_latest", None), ("score__diabetes_regressor_v1", "0 6 * * *")]
    assert [a.name for a in list_associations("diabetes_regressor")] == [second.name, first.name]
    remove_association(first.name)
    snapshot = json.loads(snapshot_path(registered).read_text())["associations"]
    assert [a["name"] for a in snapshot] == [second.name]
    with session_scope(registered) as session:
        actions = [event.action for event in events_for(session, model_name="diabetes_regressor")]
    assert actions[:3] == ["dissociated", "associated", "associated"]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"model_ref": "nope@champion"}, ModelNotFoundError, "model 'nope' is not registered"),
        ({"schedule": "every morning"}, AssociationError, "invalid schedule 'every morning'"),
        ({"policy": "ignore"}, AssociationError, "unknown policy 'ignore'"),
        ({"workflow": "spark"}, AssociationError, "unknown workflow 'spark'"),
        ({"name": "has space"}, AssociationError, "invalid association name"),
    ],
)
def test_bad_associations_are_refused_and_leave_no_snapshot(registered, kwargs, error, message):
    arguments = {"model_ref": "diabetes_regressor/1", "input_path": "/in", "output_path": "/out", **kwargs}
    with pytest.raises(error, match=message):
        create_association(arguments.pop("model_ref"), **arguments)
    assert list_associations() == [] and not snapshot_path(registered).exists()


def test_duplicate_association_names_are_refused(registered):
    create_association("diabetes_regressor/1", input_path="/in", output_path="/out", name="nightly")
    with pytest.raises(AssociationError, match="association 'nightly' exists already"):
        create_association("diabetes_regressor/1", input_path="/in", output_path="/out", name="nightly")


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

"""Listing, showing, aliases and descriptions against a real MLflow store."""

import pytest

from registry.catalog import list_models, remove_alias, set_alias, set_description, show_version
from registry.errors import InvalidReferenceError, ModelNotFoundError


def test_list_shows_latest_version_aliases_flavor_and_key_metric(trained):
    settings, _ = trained
    models = {model.name: model for model in list_models(settings)}
    classifier = models["breast_cancer_classifier"]
    assert (classifier.latest_version, classifier.flavor, classifier.task) == (1, "sklearn", "classification")
    assert classifier.key_metric == "validation_roc_auc" and classifier.key_metric_value > 0.95
    assert models["diabetes_regressor"].key_metric == "validation_rmse"
    assert classifier.description.startswith("Random forest")


@pytest.mark.parametrize(
    "ref, error, message",
    [
        ("unknown", ModelNotFoundError, "model 'unknown' is not registered"),
        ("breast_cancer_classifier/9", ModelNotFoundError, "has no version 9"),
        ("breast_cancer_classifier@nope", ModelNotFoundError, "has no alias 'nope'"),
        ("breast cancer", InvalidReferenceError, "invalid model reference"),
    ],
)
def test_bad_references_name_what_is_missing(trained, ref, error, message):
    settings, _ = trained
    with pytest.raises(error, match=message):
        show_version(ref, settings)


def test_alias_moves_and_is_recorded_as_an_event(home):
    from pipelines.training import DEMO_MODELS, train_demo_model

    for _ in range(2):
        train_demo_model(DEMO_MODELS["diabetes_regressor"])
    set_alias("diabetes_regressor/1", "champion")
    detail = set_alias("diabetes_regressor", "champion")  # bare name: the latest version
    assert detail.version == 2 and detail.aliases == ["champion"]
    assert show_version("diabetes_regressor@champion").version == 2
    assert show_version("diabetes_regressor").aliases == ["champion"]  # the latest, found by a search
    assert show_version("diabetes_regressor/1").aliases == []
    event = show_version("diabetes_regressor/2").events[0]
    assert (event.action, event.details) == ("alias_set", {"alias": "champion", "previous_version": 1})
    (summary,) = list_models()
    assert summary.aliases == {"champion": 2} and summary.versions == 2


def test_description_is_kept_and_recorded(home):
    from pipelines.training import DEMO_MODELS, train_demo_model

    train_demo_model(DEMO_MODELS["diabetes_regressor"])
    detail = set_description("diabetes_regressor/1", "Use for cohort planning only.")
    assert detail.description == "Use for cohort planning only."
    assert detail.events[0].action == "description_set"


def test_an_alias_is_removed_with_an_event_and_a_missing_one_is_named(home):
    from pipelines.training import DEMO_MODELS, train_demo_model

    train_demo_model(DEMO_MODELS["diabetes_regressor"])
    set_alias("diabetes_regressor/1", "champion")
    removed = remove_alias("diabetes_regressor", "champion", home, actor="reviewer")
    assert (removed.alias, removed.version) == ("champion", 1)
    detail = show_version("diabetes_regressor/1")
    assert detail.aliases == [] and list_models()[0].aliases == {}
    event = detail.events[0]
    assert (event.action, event.actor, event.details) == ("alias_removed", "reviewer", {"alias": "champion"})
    with pytest.raises(ModelNotFoundError, match="model 'diabetes_regressor' has no alias 'champion'") as missing:
        remove_alias("diabetes_regressor", "champion", home, actor="reviewer")
    assert missing.value.field == "alias"
    with pytest.raises(ModelNotFoundError, match="model 'nope' is not registered"):
        remove_alias("nope", "champion", home, actor="reviewer")


def test_the_list_shows_the_description_the_modeldoc_edits_the_latest_versions(home):
    from pipelines.training import DEMO_MODELS, train_demo_model

    train_demo_model(DEMO_MODELS["diabetes_regressor"])
    set_description("diabetes_regressor/1", "Edited in the ModelDoc of v1.")
    assert list_models()[0].description == "Edited in the ModelDoc of v1."
    train_demo_model(DEMO_MODELS["diabetes_regressor"])
    set_description("diabetes_regressor/2", "Retrained on the November data.")
    (summary,) = list_models()
    assert summary.description == "Retrained on the November data." == show_version("diabetes_regressor").description
    assert show_version("diabetes_regressor/1").description == "Edited in the ModelDoc of v1."

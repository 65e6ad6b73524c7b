"""Postgres instead of SQLite, by configuration alone: a real server on loopback."""

import pytest

from registry.settings import Settings


@pytest.fixture(scope="module")
def postgres_url(postgres):
    for database in ("mlflow", "modelyard"):
        postgres.create_database(database)
    return postgres.url


def test_registry_and_metadata_run_on_postgres(postgres_url, tmp_path, external):
    from sqlalchemy import create_engine, inspect

    from pipelines.training import DEMO_MODELS, train_demo_model
    from registry.catalog import list_models, set_alias, show_version
    from registry.importing import import_model

    settings = Settings(home=tmp_path, tracking_uri=f"{postgres_url}/mlflow",
                        database_url=f"{postgres_url}/modelyard")
    train_demo_model(DEMO_MODELS["diabetes_regressor"], settings)
    import_model(external.folder / "lgb.txt", "wine_lgb", sample=external.sample_csv, target="label",
                 settings=settings)
    set_alias("wine_lgb/1", "champion", settings)
    assert {model.name for model in list_models(settings)} == {"diabetes_regressor", "wine_lgb"}
    detail = show_version("wine_lgb@champion", settings)
    assert [event.action for event in detail.events] == ["alias_set", "imported"]
    tables = inspect(create_engine(settings.database_url)).get_table_names()
    assert {"events", "associations", "deployments", "scoring_runs"} <= set(tables)
    assert not list(tmp_path.glob("*.db"))  # nothing fell back to SQLite

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from registry.metadata.db import alembic_config, engine_for, session_scope
from registry.metadata.events import events_for, record_event


def test_migrations_create_every_table_and_reach_head(home):
    engine = engine_for(home.database_url)
    tables = set(inspect(engine).get_table_names())
    assert {"events", "associations", "deployments", "scoring_runs", "alembic_version"} <= tables
    head = ScriptDirectory.from_config(alembic_config(home.database_url)).get_current_head()
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head


def _migrate(url: str, step, revision: str, then=None):
    """``command.upgrade`` or ``downgrade`` to ``revision`` in one transaction, with ``then(connection)``
    run in it afterwards; returns what ``then`` returns."""
    config = alembic_config(url)
    with engine_for(url).begin() as connection:
        config.attributes["connection"] = connection
        step(config, revision)
        return then(connection) if then else None


def test_migrations_downgrade_and_upgrade_cleanly(home):
    engine = engine_for(home.database_url)
    _migrate(home.database_url, command.downgrade, "base")
    assert "events" not in inspect(engine).get_table_names()
    _migrate(home.database_url, command.upgrade, "head")
    assert "events" in inspect(engine).get_table_names()


def test_events_are_recorded_and_read_newest_first(home):
    with session_scope(home) as session:
        record_event(session, actor="ana", action="registered", model_name="m", model_version=1)
        record_event(session, actor="bo", action="alias_set", model_name="m", model_version=1,
                     details={"alias": "champion"})
        record_event(session, actor="bo", action="registered", model_name="m", model_version=2)
    with session_scope(home) as session:
        events = events_for(session, model_name="m", model_version=1)
    assert [event.action for event in events] == ["alias_set", "registered"]
    assert events[0].details == {"alias": "champion"}


def test_a_failed_action_leaves_no_event(home):
    try:
        with session_scope(home) as session:
            record_event(session, actor="ana", action="registered", model_name="m", model_version=1)
            raise RuntimeError("the MLflow side failed")
    except RuntimeError:
        pass
    with session_scope(home) as session:
        assert events_for(session, model_name="m") == []


def test_expectations_stored_under_a_reference_move_to_the_model_name(home):
    """Rows written before 0004 held ``NAME@ALIAS`` or ``NAME/VERSION`` where the name belongs."""
    from sqlalchemy import text

    def store_refs(connection):
        for ref in ("churn@champion", "churn/3", "models:/churn@prod", "churn", "other.model-2"):
            connection.execute(text("INSERT INTO model_expectations (model_name, expectation_type, kwargs, "
                                    "created_at, created_by) VALUES (:ref, 'expect_x', '{}', CURRENT_TIMESTAMP, "
                                    "'ana')"), {"ref": ref})

    def stored_names(connection):
        return connection.execute(text("SELECT model_name FROM model_expectations ORDER BY id")).scalars().all()

    _migrate(home.database_url, command.downgrade, "0003", store_refs)
    names = _migrate(home.database_url, command.upgrade, "head", stored_names)
    assert names == ["churn", "churn", "churn", "churn", "other.model-2"]

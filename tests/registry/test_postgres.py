"""Postgres instead of SQLite, by configuration alone: a real server on loopback."""

import glob
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from registry.settings import Settings
from tests.servers import Server, free_port


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL server binaries are missing: `make test` installs them with apt-get")
    return Path(found[-1]).parent


@pytest.fixture(scope="module")
def postgres_url():
    bin_dir = _postgres_bin()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="modelyard-pg-"))
    if as_postgres:
        shutil.chown(root, "postgres")
    data, port = root / "data", free_port()
    subprocess.run([*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "modelyard",
                    "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
    server = Server([*as_postgres, str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                     "-k", str(root), "-c", "listen_addresses=127.0.0.1"], Path(tempfile.mktemp(suffix=".log")))

    def accepting() -> bool:
        return subprocess.run([str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                              capture_output=True).returncode == 0

    try:
        server.wait_until(accepting, "postgres")
        for database in ("mlflow", "modelyard"):
            subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U",
                            "modelyard", database], check=True)
        yield f"postgresql://modelyard@127.0.0.1:{port}"
    finally:
        server.stop(signal.SIGINT)  # fast shutdown: do not wait for pooled clients
        shutil.rmtree(root, ignore_errors=True)


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

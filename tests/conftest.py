"""Shared fixtures: isolated homes with a real MLflow store and metadata DB, and model files."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

# Airflow reads its configuration once per process: point it at a throwaway home before any
# test imports it, so no test ever touches ~/airflow.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="modelyard-test-airflow-")
os.environ.update({
    "AIRFLOW_HOME": _AIRFLOW_HOME,
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
    "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).parents[1] / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
})

# Tools a machine may have by hand, first on PATH and failing loudly: whatever the project runs
# must be its own (infra.processes.project_path), or the suite is red on every machine, not
# only on a new one.
OUTSIDE_TOOLS = Path(tempfile.mkdtemp(prefix="modelyard-test-outside-tools-"))
for _tool in ("uv", "uvx"):
    (OUTSIDE_TOOLS / _tool).write_text(
        "#!/bin/sh\n"
        f'echo "modelyard tests: ran {_tool} from outside the project ($0 $*): the project must supply its own" >&2\n'
        "exit 97\n")
    (OUTSIDE_TOOLS / _tool).chmod(0o755)
os.environ["PATH"] = f"{OUTSIDE_TOOLS}{os.pathsep}{os.environ.get('PATH', '')}"

from registry.settings import Settings, get_settings  # noqa: E402
from tests.listeners import ListenerWatch  # noqa: E402
from tests.servers import Server, free_port  # noqa: E402

BUCKET = "modelyard-artifacts"


# ``make test`` runs two xdist workers. A work unit is a module, run whole and in order on one
# worker (its tests build on each other), except that tests/plugins is one unit: its modules share
# one session-wide platform (a whole Airflow stack), which two workers would start twice. The
# slowest units go first (with ``--no-loadscope-reorder``), so the two workers finish together.
SLOWEST_FIRST = (
    "tests/stack/test_real_services.py", "tests/plugins", "tests/stack/test_platform.py", "tests/dags/test_scheduled_path.py",
    "tests/benchmarks/test_batch_scoring_benchmark.py", "tests/bento_services/test_deploy.py",
    "tests/benchmarks/test_online_serving_benchmark.py", "tests/test_demo.py",
)


def work_unit(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return "tests/plugins" if path.startswith("tests/plugins/") else path


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        unit = work_unit(item.nodeid)
        return SLOWEST_FIRST.index(unit) if unit in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable: a module's tests keep their order


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return ByWorkUnit(config, log)


@pytest.fixture(autouse=True, scope="session")
def listener_watch():
    """Every socket a process of this run listens on beyond loopback, sampled all run long."""
    watch = ListenerWatch(os.getpid()).start()
    yield watch
    watch.stop()


@pytest.fixture(autouse=True)
def _loopback_only(listener_watch):
    """Servers the project or the suite starts bind to loopback: the first test to end after one
    listens wider errors, naming the process and the address (session fixtures start before
    any function fixture, so a test cannot tell what listened before it began)."""
    yield
    wide = listener_watch.unreported()
    if wide:
        pytest.fail("listening beyond loopback:\n" + "\n".join(map(str, wide)), pytrace=False)


@pytest.fixture(autouse=True, scope="session")
def _clean_environment():
    """Tests choose their own settings: nothing from the developer's shell leaks in."""
    for key in [key for key in os.environ if key.startswith("MODELYARD_")]:
        del os.environ[key]
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    # One BentoML server per deployment unless a test asks for more (tests/bento_services/
    # test_replicas.py runs the default two with the watchdog): the suite's servers share 2 cores.
    os.environ["MODELYARD_SERVE_REPLICAS"] = "1"
    # No warm spares unless a test asks for them (tests/bento_services/test_swaps.py, the Models
    # page's platform): the cold chain stays what other deploy tests check, and spares cost CPU.
    os.environ["MODELYARD_SERVE_SPARES"] = "false"
    warnings.filterwarnings("ignore", category=UserWarning)
    yield


@pytest.fixture
def home(tmp_path, monkeypatch) -> Settings:
    """A fresh, empty Modelyard home selected through the environment, as a user would."""
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> tuple[Settings, list]:
    """One home with the demo models trained once, for tests that only read."""
    from pipelines.training import train_demo_models

    settings = Settings(home=tmp_path_factory.mktemp("trained"))
    return settings, train_demo_models(settings=settings)


@pytest.fixture(scope="session")
def scoring_home(tmp_path_factory) -> Settings:
    """A second trained home for tests that change state (aliases, expectations, runs, Airflow)."""
    from pipelines.training import train_demo_models

    settings = Settings(home=tmp_path_factory.mktemp("scoring"))
    train_demo_models(settings=settings)
    return settings


@dataclass
class ExternalModels:
    folder: Path
    sample_csv: Path
    sample_parquet: Path
    features: pd.DataFrame
    target: pd.Series
    expected: dict[str, pd.DataFrame]  # file name -> predictions of the original object


@pytest.fixture(scope="session")
def external(tmp_path_factory) -> ExternalModels:
    """Model files of every importable flavor, made the way their own libraries save them."""
    import joblib
    import lightgbm
    import mlflow.sklearn
    import numpy as np
    import skops.io
    import xgboost
    from skl2onnx import to_onnx
    from sklearn.datasets import load_wine
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, Ridge

    folder = tmp_path_factory.mktemp("external")
    features, target = load_wine(return_X_y=True, as_frame=True)
    features.columns = [column.replace("/", "_") for column in features.columns]
    sample = features.assign(label=target)
    sample.to_csv(folder / "wine.csv", index=False)
    sample.to_parquet(folder / "wine.parquet")
    expected = {}

    logistic = LogisticRegression(max_iter=5000).fit(features, target)
    skops.io.dump(logistic, folder / "logistic.skops")
    joblib.dump(logistic, folder / "logistic.joblib")
    expected["logistic.skops"] = expected["logistic.joblib"] = pd.DataFrame(
        logistic.predict_proba(features), columns=[f"probability_{c}" for c in logistic.classes_]
    )
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(features, target)
    skops.io.dump(forest, folder / "forest.skops")
    expected["forest.skops"] = pd.DataFrame(
        forest.predict_proba(features), columns=[f"probability_{c}" for c in forest.classes_]
    )
    ridge = Ridge().fit(features.to_numpy(), target.astype(float))  # no feature names
    skops.io.dump(ridge, folder / "ridge_unnamed.skops")
    expected["ridge_unnamed.skops"] = pd.DataFrame({"prediction": ridge.predict(features.to_numpy())})

    booster = xgboost.XGBClassifier(n_estimators=15, max_depth=3).fit(features, target)
    booster.save_model(folder / "xgb.json")
    booster.get_booster().save_model(folder / "xgb.ubj")
    expected["xgb.json"] = expected["xgb.ubj"] = pd.DataFrame(
        booster.predict_proba(features), columns=[f"probability_{c}" for c in range(3)]
    )
    gbm = lightgbm.LGBMRegressor(n_estimators=15, verbose=-1).fit(features, target.astype(float))
    gbm.booster_.save_model(folder / "lgb.txt")
    expected["lgb.txt"] = pd.DataFrame({"prediction": gbm.predict(features)})

    onnx_model = to_onnx(logistic, features.to_numpy(dtype=np.float32)[:1])
    (folder / "logistic.onnx").write_bytes(onnx_model.SerializeToString())
    expected["logistic.onnx"] = expected["logistic.skops"]

    mlflow.sklearn.save_model(logistic, str(folder / "mlflow_logistic"), serialization_format="skops")
    expected["mlflow_logistic"] = expected["logistic.skops"]

    (folder / "corrupt.onnx").write_bytes(b"\x08\x01garbage" * 20)
    (folder / "corrupt.skops").write_bytes(b"PK\x03\x04 not really a zip")
    (folder / "corrupt.json").write_text('{"learner": ')
    (folder / "corrupt.txt").write_text("tree\nversion=v4\nthis is not a model\n")
    (folder / "model.h5").write_bytes(b"\x89HDF")
    return ExternalModels(folder, folder / "wine.csv", folder / "wine.parquet", features, target, expected)


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = Server([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], log)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        server.wait_http(endpoint)
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def s3_settings(s3, tmp_path, monkeypatch):
    import boto3

    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=s3)
    if BUCKET not in [bucket["Name"] for bucket in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    prefix = tmp_path.name
    settings = Settings(home=tmp_path / "home", artifact_root=f"s3://{BUCKET}/{prefix}", s3_endpoint_url=s3)
    return settings, client, prefix


@dataclass
class Postgres:
    """A PostgreSQL server on loopback (Debian's binaries), trusting the ``modelyard`` user."""

    url: str  # postgresql://modelyard@127.0.0.1:PORT
    bin_dir: Path
    port: int

    def create_database(self, name: str) -> str:
        subprocess.run([str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "modelyard",
                        name], check=True, capture_output=True)
        return f"{self.url}/{name}"


@pytest.fixture(scope="session")
def postgres(tmp_path_factory) -> Postgres:
    import glob
    import shutil
    import signal

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL server binaries are missing: `make test` installs them with apt-get")
    bin_dir = Path(found[-1]).parent
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="modelyard-pg-"))
    if as_postgres:
        shutil.chown(root, "postgres")
    data, port = root / "data", free_port()
    subprocess.run([*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "modelyard",
                    "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
    server = Server([*as_postgres, str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                     "-k", str(root), "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"],
                    tmp_path_factory.mktemp("postgres") / "postgres.log")

    def accepting() -> bool:
        return subprocess.run([str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                              capture_output=True).returncode == 0

    try:
        server.wait_until(accepting, "postgres")
        yield Postgres(f"postgresql://modelyard@127.0.0.1:{port}", bin_dir, port)
    finally:
        server.stop(signal.SIGINT)  # fast shutdown: do not wait for pooled clients
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class DaskCluster:
    address: str
    servers: list[Server]


@pytest.fixture(scope="session")
def dask_servers(tmp_path_factory) -> DaskCluster:
    """A real distributed cluster on loopback, started with the project's own commands: a
    scheduler and two single-threaded worker processes."""
    from distributed import Client

    from pipelines.scoring.cluster import scheduler_command, worker_command

    logs = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = Server(scheduler_command(port), logs / "scheduler.log")
    workers = Server(worker_command(address, nworkers=2, nthreads=1), logs / "workers.log")
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield DaskCluster(address, [scheduler, workers])
    finally:
        workers.stop()
        scheduler.stop()


@pytest.fixture(scope="session")
def dask_cluster(dask_servers) -> str:
    """The address of ``dask_servers``' scheduler."""
    return dask_servers.address


@pytest.fixture(scope="session")
def airflow_db():
    """The test process's Airflow metadata database, migrated once."""
    subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True,
                   capture_output=True, env=os.environ.copy())
    return os.environ["AIRFLOW_HOME"]

"""The main job on embedded defaults, as ``make demo`` runs it.

Train the demo models, export an "external" XGBoost model to a file and import it the way a
user would, point ``champion`` aliases, then write a ModelDoc and a download archive, batch-score
a day's data and schedule it nightly. The front then deploys the champion online; ``ask_endpoint``
asks the running endpoint the way a client would (``/predict`` and the V2 protocol).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from pipelines.scoring import ScoringRequest, ScoringResult, log_to_mlflow, score_batch
from registry.associations import AssociationInfo, create_association, list_associations
from registry.catalog import ModelSummary, list_models, set_alias
from registry.download import download_model
from registry.importing import import_model
from registry.modeldoc import build_modeldoc, write_modeldoc
from registry.registration import RegisteredVersion
from registry.errors import ModelyardError
from registry.settings import Settings, get_settings

EXTERNAL_MODEL = "wine_xgboost"


class DemoResult(BaseModel):
    trained: list[RegisteredVersion]
    imported: RegisteredVersion
    models: list[ModelSummary]
    modeldoc: Path
    download: Path
    scoring: ScoringResult
    association: AssociationInfo


class OnlineAnswer(BaseModel):
    url: str
    model_version: int
    predict: list[dict]
    v2: dict[str, list]


def ask_endpoint(name: str, settings: Settings | None = None, rows: int = 2) -> OnlineAnswer:
    """Two breast cancer rows through the model's running endpoint, as JSON records and as a V2 tensor."""
    import httpx

    from pipelines.training import load_dataset

    url = _running_url(name, settings or get_settings())
    features, _ = load_dataset("breast_cancer")
    sample = features.iloc[:rows]
    answer = httpx.post(f"{url}/predict", json=sample.to_dict(orient="records"), timeout=30.0)
    answer.raise_for_status()
    tensor = {"name": "input-0", "shape": list(sample.shape), "datatype": "FP64", "data": sample.to_numpy().ravel().tolist()}
    v2 = httpx.post(f"{url}/v2/models/{name}/infer", json={"inputs": [tensor]}, timeout=30.0)
    v2.raise_for_status()
    return OnlineAnswer(url=url, model_version=answer.json()["model_version"], predict=answer.json()["predictions"],
                        v2={output["name"]: output["data"] for output in v2.json()["outputs"]})


DRIFTED_FEATURES = ("mean_radius", "mean_texture", "mean_smoothness")


class TrafficSent(BaseModel):
    url: str
    requests: int
    drifted_from: int  # requests from this index on carry the drift
    drifted_features: list[str]
    labels: Path  # request id + the true outcome, as labels arriving later would


def send_demo_traffic(name: str, settings: Settings | None = None, requests: int = 400,
                      drift_after: float = 0.5, features_drifted=DRIFTED_FEATURES, id_prefix: str = "demo",
                      seed: int = 7) -> TrafficSent:
    """Live traffic for the demo's monitoring: breast cancer rows, one per request, each with
    its own ``x-request-id``; from ``drift_after`` of the way on, three features read 60 % high
    (a miscalibrated instrument). The true outcomes go to a labels file keyed by request id."""
    import httpx
    import numpy as np
    import pandas as pd

    from pipelines.training import load_dataset
    from registry.request_logs import REQUEST_ID_HEADER

    settings = settings or get_settings()
    url = _running_url(name, settings)
    features, target = load_dataset("breast_cancer")
    picks = np.random.default_rng(seed).integers(0, len(features), requests)
    drifted_from = int(requests * drift_after)
    ids = []
    with httpx.Client(base_url=url, timeout=30.0) as client:
        for index, row in enumerate(picks):
            record = features.iloc[int(row)].to_dict()
            if index >= drifted_from:
                record.update({feature: record[feature] * 1.6 for feature in features_drifted})
            request_id = f"{id_prefix}-{index:05d}"
            client.post("/predict", json=[record], headers={REQUEST_ID_HEADER: request_id}).raise_for_status()
            ids.append(request_id)
    labels = settings.home / "demo" / f"labels-{id_prefix}.parquet"
    labels.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"request_id": ids, "label": target.iloc[picks].to_numpy()}).to_parquet(labels, index=False)
    return TrafficSent(url=url, requests=requests, drifted_from=drifted_from,
                       drifted_features=list(features_drifted), labels=labels)


def wait_until_logged(name: str, prefix: str, count: int, settings: Settings, timeout: float = 60.0) -> None:
    """Until the replicas have flushed every request whose id starts with ``prefix-`` to the log."""
    import time

    from registry.request_logs import read_request_log

    deadline = time.monotonic() + timeout
    while read_request_log(settings, name)["request_id"].str.startswith(f"{prefix}-").sum() < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the {prefix} requests did not all reach {name}'s request log in {timeout:.0f} s")
        time.sleep(0.5)


def send_monitored_traffic(name: str, settings: Settings | None = None) -> TrafficSent:
    """The demo's live traffic, logged, its true outcomes added as labels, and the clock past the
    monitoring window's settle margin: a monitoring pass started now counts all of it."""
    import time

    import pandas as pd

    from pipelines.monitoring.labels import add_labels
    from pipelines.monitoring.monitor import SETTLE

    settings = settings or get_settings()
    sent = send_demo_traffic(name, settings)
    wait_until_logged(name, "demo", sent.requests, settings)
    add_labels(settings, name, pd.read_parquet(sent.labels), actor=settings.user)
    time.sleep(SETTLE.total_seconds())
    return sent


def _running_url(name: str, settings: Settings) -> str:
    from registry.deployments import list_deployments

    running = [row for row in list_deployments(settings=settings, live=False, model_name=name) if row.status == "running"]
    if not running:
        raise LookupError(f"model {name!r} has no running deployment")
    return running[0].url


def export_external_model(folder: Path) -> tuple[Path, Path]:
    """An XGBoost model trained outside Modelyard, saved as JSON, with a labelled sample."""
    import xgboost
    from sklearn.datasets import load_wine

    folder.mkdir(parents=True, exist_ok=True)
    features, target = load_wine(return_X_y=True, as_frame=True)
    features.columns = [column.replace("/", "_") for column in features.columns]
    model = xgboost.XGBClassifier(n_estimators=40, max_depth=3, random_state=0)
    model.fit(features, target)
    model_path = folder / "wine_xgboost.json"
    model.save_model(model_path)
    sample_path = folder / "wine_sample.csv"
    features.assign(cultivar=target).sample(frac=0.5, random_state=1).to_csv(sample_path, index=False)
    return model_path, sample_path


def write_batch_input(path: Path, copies: int = 20) -> Path:
    """Breast cancer measurements as a day's batch, with a customer id and two broken rows."""
    import numpy as np
    import pandas as pd

    from pipelines.training import load_dataset

    features, _ = load_dataset("breast_cancer")
    batch = pd.concat([features] * copies, ignore_index=True)
    batch.insert(0, "customer_id", np.arange(len(batch)))
    batch.loc[3, "mean_radius"] = np.nan  # a missing measurement
    batch.loc[7, "mean_area"] = 1e6  # a unit mistake
    path.parent.mkdir(parents=True, exist_ok=True)
    batch.to_parquet(path)
    return path


def demo_data_folder(settings: Settings) -> Path:
    """The demo's batch data: under the first local data root, where associations may read and write."""
    local = [root for root in settings.data_roots if "://" not in root]
    if not local:
        raise ModelyardError("the demo writes its batch data locally: configure a local folder among the data roots")
    return Path(local[0]) / "demo"


def _nightly_association(first: RegisteredVersion, source: Path, out: Path, settings: Settings) -> AssociationInfo:
    existing = [a for a in list_associations(first.name, settings) if a.name == "demo_nightly"]
    if existing:
        return existing[0]
    return create_association(
        f"{first.name}@champion", input_path=str(source), output_path=str(out / "nightly" / "{{ ds }}"),
        schedule="0 2 * * *", policy="quarantine", name="demo_nightly", settings=settings,
    )


def run_demo(
    settings: Settings | None = None, progress: Callable[[str], None] = lambda _: None
) -> DemoResult:
    from pipelines.training import train_demo_models

    settings = settings or get_settings()
    out = settings.home / "demo"
    progress("training and registering the demo models")
    trained = train_demo_models(settings=settings)
    for version in trained:
        set_alias(version.ref, "champion", settings)
    progress("exporting an external XGBoost model and importing it")
    model_path, sample_path = export_external_model(out / "external")
    imported = import_model(
        model_path, EXTERNAL_MODEL, sample=sample_path, target="cultivar", new_version=True,
        description="XGBoost wine cultivar classifier trained outside Modelyard and imported.",
        settings=settings,
    )
    first = trained[0]
    progress(f"writing the ModelDoc and a download of {first.name}@champion")
    modeldoc = out / f"modeldoc-{first.name}.html"
    write_modeldoc(build_modeldoc(f"{first.name}@champion", settings), "html", modeldoc)
    download = download_model(f"{first.name}@champion", out / f"{first.name}.zip", settings).path
    progress("batch scoring a day's data on a local Dask cluster (bad rows quarantined)")
    batch = demo_data_folder(settings)
    source = write_batch_input(batch / "input.parquet")
    scoring = score_batch(ScoringRequest(
        model_ref=f"{first.name}@champion", input_path=str(source),
        output_path=str(batch / "scored"), policy="quarantine"), settings=settings)
    log_to_mlflow(scoring, settings)
    progress("associating the champion with the batch_scoring workflow, nightly")
    association = _nightly_association(first, source, batch, settings)
    return DemoResult(
        trained=trained, imported=imported, models=list_models(settings), modeldoc=modeldoc,
        download=download, scoring=scoring, association=association,
    )

"""Where a deployment's request log lives and what its rows hold: the contract between the
replicas that write it (``bento_services``) and the monitoring runs that read it (``pipelines``).

Layout, Hive-partitioned so ``pyarrow.dataset`` reads any slice by its folders alone::

    <root>/model=<name>/version=<v>/hour=<YYYY-MM-DDTHH>/part-<utc stamp>-<replica>-<seq>.parquet

``<root>`` is ``MODELYARD_REQUEST_LOG_ROOT``: the home's ``request_logs`` folder by default, or a
folder or ``s3://`` prefix of its own; an ``s3://`` artifact root puts it beside the artifacts.
Each file is written whole under a dot-name and then renamed (on S3 a PUT is already atomic),
so a reader never sees half a file. ``model``, ``version`` and ``hour`` are the folders, not
columns of the files.

One row per scored input row (a request of five rows is five log rows with ``row`` 0..4); a
refused or failed request is one row with its status and error and no features. ``shadow`` is true
for a row whose answer went to no client (a copy the gateway sent during a challenge); files
written before it existed lack the column and read it as null (false).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the gateway imports this module for its header name: it starts without pydantic
    from registry.settings import Settings

REQUEST_ID_HEADER = "x-request-id"
# set by the gateway on a copy of a request sent to the version that does not answer it (a shadow
# challenger, or the champion beside a canary): logged with ``shadow`` true, left out of monitoring
SHADOW_HEADER = "x-modelyard-shadow"
LOG_FOLDER = "request_logs"
HOUR_FORMAT = "%Y-%m-%dT%H"
# the fixed columns of every file, before ``input_<feature>`` and ``output_<column>``
COLUMNS = ("request_id", "row", "received_at", "replica", "route", "status", "latency_ms", "error", "shadow")
INPUT_PREFIX, OUTPUT_PREFIX = "input_", "output_"


def log_root(settings: Settings) -> str:
    """The configured root, else ``<artifact_root>/request_logs`` on S3, else the home's folder."""
    if settings.request_log_root:
        return settings.request_log_root.rstrip("/")
    if not settings.artifact_root_is_local:
        return f"{settings.artifact_root.rstrip('/')}/{LOG_FOLDER}"
    return str(settings.home / LOG_FOLDER)


def hour_of(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(HOUR_FORMAT)


def partition(root: str, model_name: str, model_version: int, moment: datetime) -> str:
    """The folder one hour of one version's rows go to."""
    return f"{root}/model={model_name}/version={model_version}/hour={hour_of(moment)}"


def hours_between(start: datetime, end: datetime) -> list[str]:
    """Every hour partition a window ``[start, end)`` touches, oldest first."""
    hour = start.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour < end:
        hours.append(hour.strftime(HOUR_FORMAT))
        hour += timedelta(hours=1)
    return hours


def filesystem(root: str, settings: Settings):
    """An fsspec filesystem for the root (S3 with the configured endpoint) and the root's path on it;
    ``pyarrow.dataset`` and pandas both take it."""
    import fsspec

    options = {"client_kwargs": {"endpoint_url": settings.s3_endpoint_url}} if (
        root.startswith("s3://") and settings.s3_endpoint_url) else {}
    return fsspec.core.url_to_fs(root, **options)


def enforce_retention(settings: Settings, now: datetime | None = None) -> list[str]:
    """Delete the hour partitions whose every row is older than ``request_log_retention_days``;
    the partitions deleted, oldest first. Labels (``_labels``) are not touched."""
    root = log_root(settings)
    fs, path = filesystem(root, settings)
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=settings.request_log_retention_days)
    expired = []
    for folder in sorted(fs.glob(f"{path}/model=*/version=*/hour=*")):
        try:
            hour = datetime.strptime(folder.rsplit("hour=", 1)[1], HOUR_FORMAT).replace(tzinfo=timezone.utc)
        except ValueError:
            continue  # not a partition of ours
        if hour + timedelta(hours=1) <= cutoff:
            fs.rm(folder, recursive=True)
            expired.append(folder)
    return expired


def read_request_log(settings: Settings, model_name: str, *, root: str | None = None):
    """Every logged row of a model as one pandas frame, with ``version`` and ``hour`` from the
    folders (for tests and small looks; monitoring reads slices with ``pyarrow.dataset``)."""
    import pandas as pd
    import pyarrow.dataset as ds

    root = root or log_root(settings)
    fs, path = filesystem(root, settings)
    if not fs.exists(f"{path}/model={model_name}"):
        return pd.DataFrame(columns=list(COLUMNS))
    dataset = ds.dataset(f"{path}/model={model_name}", filesystem=fs, format="parquet", partitioning="hive")
    return dataset.to_table().to_pandas()

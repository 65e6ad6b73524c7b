"""Labels: the real outcome of answered requests, joined to the log by request id (and row).

They are kept as Parquet files under ``<log root>/_labels/model=<name>/`` (the underscore keeps
``pyarrow``'s discovery of the log away from them), one file per call, never rewritten: a later
label for the same request and row wins. An association may name a ``labels_path`` (option) whose
files are read too. Labels may arrive days late; ``monitor.monitor_model`` then recomputes the
labelled metrics of the windows their requests were answered in.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

import pandas as pd
import pyarrow as pa
from pydantic import BaseModel

from pipelines.monitoring.reference import Reference
from registry.errors import InvalidFieldError
from registry.request_logs import OUTPUT_PREFIX, filesystem, log_root
from registry.settings import Settings

LABELS_FOLDER = "_labels"
SCHEMA = pa.schema([("request_id", pa.string()), ("row", pa.int64()), ("label", pa.string()),
                    ("added_at", pa.timestamp("us", tz="UTC")), ("added_by", pa.string())])


class LabelsAdded(BaseModel):
    model_name: str
    labels: int
    path: str
    added_at: datetime


def labels_path(settings: Settings, name: str) -> tuple[object, str]:
    fs, root = filesystem(log_root(settings), settings)
    return fs, f"{root.rstrip('/')}/{LABELS_FOLDER}/model={name}"


def check_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """``request_id`` and ``label`` (and an optional ``row``, 0 when absent), validated; the error
    names the column and the first bad row."""
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise InvalidFieldError("labels: no rows given", field="labels")
    for column in ("request_id", "label"):
        if column not in frame.columns:
            raise InvalidFieldError(f"labels lack the column {column!r} (columns: request_id, label, row)",
                                    field=column)
    ids = frame["request_id"]
    blank = ids.isna() | (ids.astype(str).str.strip() == "")
    if blank.any():
        raise InvalidFieldError(f"request_id is empty in row {int(blank.to_numpy().argmax())}", field="request_id")
    missing = frame["label"].isna()
    if missing.any():
        raise InvalidFieldError(f"label is missing in row {int(missing.to_numpy().argmax())}", field="label")
    rows = frame["row"] if "row" in frame.columns else pd.Series(0, index=frame.index)
    numbers = pd.to_numeric(rows.fillna(0), errors="coerce")
    bad = numbers.isna() | (numbers < 0) | (numbers % 1 != 0)
    if bad.any():
        raise InvalidFieldError(f"row must be a whole number >= 0 (row {int(bad.to_numpy().argmax())}: "
                                f"{rows.iloc[int(bad.to_numpy().argmax())]!r})", field="row")
    return pd.DataFrame({"request_id": ids.astype(str).str.strip().to_numpy(),
                         "row": numbers.astype("int64").to_numpy(), "label": frame["label"].astype(str).to_numpy()})


def read_labels_file(path: str, settings: Settings) -> pd.DataFrame:
    """A Parquet or CSV file of labels (local or s3://)."""
    from pipelines.scoring.io import storage_options

    options = storage_options(path, settings)
    if path.lower().endswith(".csv"):
        return pd.read_csv(path, dtype={"request_id": str, "label": str}, storage_options=options or None)
    if path.lower().endswith(".parquet") or path.lower().endswith(".pq"):
        return pd.read_parquet(path, storage_options=options or None)
    raise InvalidFieldError(f"labels file {path}: expected .parquet or .csv", field="file")


def add_labels(settings: Settings, name: str, frame: pd.DataFrame, actor: str) -> LabelsAdded:
    """Store labels for a model's answered requests (one new file, written whole), and an event."""
    import pyarrow.parquet as pq

    from registry.metadata.db import session_scope
    from registry.metadata.events import record_event
    from registry.refs import check_model_name

    check_model_name(name)
    labels = check_labels(frame)
    now = datetime.now(timezone.utc)
    table = pa.Table.from_pandas(labels.assign(added_at=now, added_by=actor), schema=SCHEMA, preserve_index=False)
    fs, folder = labels_path(settings, name)
    fs.makedirs(folder, exist_ok=True)
    file_name = f"labels-{now:%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}.parquet"
    staged, final = f"{folder}/.{file_name}", f"{folder}/{file_name}"
    with fs.open(staged, "wb") as out:
        pq.write_table(table, out)
    fs.mv(staged, final)
    with session_scope(settings) as session:
        record_event(session, actor=actor, action="labels_added", model_name=name,
                     details={"labels": len(labels), "path": final})
    return LabelsAdded(model_name=name, labels=len(labels), path=final, added_at=now)


def _association_label_files(settings: Settings, name: str) -> list[tuple[object, str]]:
    from registry.associations import list_associations
    from registry.refs import parse_ref

    found = []
    for association in list_associations(settings=settings):
        path = association.options.get("labels_path")
        if not path or parse_ref(association.model_ref).name != name:
            continue
        fs, root = filesystem(path, settings)
        files = [root] if fs.isfile(root) else [f for f in fs.find(root) if f.endswith((".parquet", ".csv"))]
        prefix = "s3://" if path.startswith("s3://") else ""
        found += [(fs, f"{prefix}{file}") for file in files]
    return found


def read_labels(settings: Settings, name: str) -> pd.DataFrame:
    """Every label of the model (stored, and from its associations' ``labels_path``), the latest
    per request and row, with when each arrived."""
    import pyarrow.dataset as ds

    fs, folder = labels_path(settings, name)
    parts = []
    if fs.exists(folder):
        files = [f for f in fs.find(folder) if f.endswith(".parquet") and not f.rsplit("/", 1)[-1].startswith(".")]
        if files:
            parts.append(ds.dataset(files, schema=SCHEMA, format="parquet", filesystem=fs).to_table().to_pandas())
    for file_fs, path in _association_label_files(settings, name):
        labels = check_labels(read_labels_file(path, settings))
        modified = pd.Timestamp(file_fs.modified(path.removeprefix("s3://"))).tz_localize(None).tz_localize("UTC")
        parts.append(labels.assign(added_at=modified, added_by=f"labels_path:{path}"))
    if not parts:
        return SCHEMA.empty_table().to_pandas()
    labels = pd.concat(parts, ignore_index=True).sort_values("added_at", kind="stable")
    return labels.drop_duplicates(["request_id", "row"], keep="last").reset_index(drop=True)


def labelled_metrics(frame: pd.DataFrame, labels: pd.DataFrame, reference: Reference) -> tuple[int, dict[str, float]]:
    """The validation metrics on the window's answered rows that have a label."""
    from registry.evaluation import classification_metrics, regression_metrics

    if labels.empty or frame.empty:
        return 0, {}
    scored = frame[frame["status"] < 400]
    joined = scored.merge(labels[["request_id", "row", "label"]], on=["request_id", "row"], how="inner")
    joined = joined.drop_duplicates(["request_id", "row"])
    outputs = joined[[column for column in joined.columns if column.startswith(OUTPUT_PREFIX)]]
    predictions = outputs.set_axis([column.removeprefix(OUTPUT_PREFIX) for column in outputs.columns], axis=1)
    if reference.card.task == "classification":
        if joined.empty:
            return 0, {}
        classes = [str(label) for label in reference.card.classes or []]
        predictions = predictions.assign(prediction=predictions["prediction"].astype(str))
        return len(joined), classification_metrics(joined["label"].astype(str), predictions, classes)
    target = pd.to_numeric(joined["label"], errors="coerce")
    keep = target.notna() & predictions["prediction"].notna()
    if not keep.any():
        return 0, {}
    return int(keep.sum()), regression_metrics(target[keep], predictions[keep])

"""Reading a window of a model's request log: only the hour folders the window touches, only
the columns a pass needs, through ``pyarrow.dataset`` (local folders and ``s3://`` alike)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pyarrow as pa

from registry.request_logs import INPUT_PREFIX, OUTPUT_PREFIX, filesystem, hours_between, log_root
from registry.settings import Settings

# the fixed columns a pass reads, with the types every file is read as
FIXED = {"request_id": pa.string(), "row": pa.int64(), "received_at": pa.timestamp("us", tz="UTC"),
         "status": pa.int64(), "latency_ms": pa.float64(), "error": pa.string(), "shadow": pa.bool_()}
PARTITIONS = pa.schema([("version", pa.int64()), ("hour", pa.string())])


def model_log_path(settings: Settings, name: str) -> tuple[object, str]:
    """The filesystem and the folder of one model's log."""
    fs, root = filesystem(log_root(settings), settings)
    return fs, f"{root.rstrip('/')}/model={name}"


def log_files(fs, base: str, start: datetime, end: datetime) -> list[str]:
    """The Parquet files of every version's hour folders that ``[start, end)`` touches (dot-files,
    still being written, left out)."""
    try:
        versions = [path for path in fs.ls(base, detail=False) if path.rsplit("/", 1)[-1].startswith("version=")]
    except FileNotFoundError:
        return []
    files = []
    for version in versions:
        for hour in hours_between(start, end):
            try:
                names = fs.ls(f"{version}/hour={hour}", detail=False)
            except FileNotFoundError:
                continue
            files += [name for name in names if name.endswith(".parquet")
                      and not name.rsplit("/", 1)[-1].startswith(".")]
    return sorted(files)


def read_window(settings: Settings, name: str, start: datetime, end: datetime, *,
                features: dict[str, pa.DataType] | None = None, outputs: dict[str, pa.DataType] | None = None,
                columns: list[str] | None = None, request_ids: list[str] | None = None,
                shadow: bool = False, versions: list[int] | None = None) -> pd.DataFrame:
    """The model's log rows received in ``[start, end)``: the fixed columns (or ``columns`` of them),
    ``version``, and ``input_<feature>`` / ``output_<column>`` for the features and outputs asked
    for (null where a file lacks one, as an error row does). Only the rows answered to clients,
    unless ``shadow`` (a challenge's comparison reads the copies too); only ``versions``, if given."""
    import pyarrow.dataset as ds

    fs, base = model_log_path(settings, name)
    fixed = {column: FIXED[column] for column in (columns or FIXED)} | {
        "received_at": FIXED["received_at"], "shadow": FIXED["shadow"]}
    fields = {**fixed,
              **{f"{INPUT_PREFIX}{feature}": kind for feature, kind in (features or {}).items()},
              **{f"{OUTPUT_PREFIX}{output}": kind for output, kind in (outputs or {}).items()}}
    schema = pa.schema([*fields.items(), *zip(PARTITIONS.names, PARTITIONS.types)])
    files = log_files(fs, base, start, end)
    if not files:
        return schema.empty_table().to_pandas()
    dataset = ds.dataset(files, schema=schema, format="parquet", filesystem=fs,
                         partitioning=ds.partitioning(PARTITIONS, flavor="hive"), partition_base_dir=base)
    moment = FIXED["received_at"]
    window = (ds.field("received_at") >= pa.scalar(start, moment)) & (ds.field("received_at") < pa.scalar(end, moment))
    if request_ids is not None:
        window = window & ds.field("request_id").isin(pa.array(request_ids, pa.string()))
    if not shadow:  # files from before the column read it as null
        window = window & (ds.field("shadow").is_null() | ~ds.field("shadow"))
    if versions is not None:
        window = window & ds.field("version").isin(pa.array(versions, pa.int64()))
    return dataset.to_table(columns=list(schema.names), filter=window).to_pandas()

"""Reading inputs (file, folder or glob; local or S3) and committing outputs atomically.

Output is a folder: ``part-NNNNN.parquet`` files with predictions, ``_rejects/`` with the
rejected rows, ``_run.json`` and ``_SUCCESS``. It is written aside and moved into place only
when every partition succeeded, so readers never see a half-written run.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import PurePosixPath
from typing import Any

import pandas as pd

from pipelines.scoring.errors import InputError
from registry.settings import Settings

PARQUET_SUFFIXES = (".parquet", ".pq")
REJECTS_DIR = "_rejects"


def storage_options(path: str, settings: Settings) -> dict[str, Any]:
    if path.startswith("s3://") and settings.s3_endpoint_url:
        return {"client_kwargs": {"endpoint_url": settings.s3_endpoint_url}}
    return {}


def filesystem(path: str, settings: Settings):
    import fsspec

    fs, _ = fsspec.core.url_to_fs(path, **storage_options(path, settings))
    return fs


def _input_files(path: str, settings: Settings) -> list[str]:
    fs = filesystem(path, settings)
    protocol = "s3://" if path.startswith("s3://") else ""
    if any(char in path for char in "*?["):
        files = fs.glob(path)
    elif fs.isdir(path):
        files = [f for f in fs.find(path) if not any(part.startswith(("_", ".")) for part in PurePosixPath(f).parts[-1:])]
    elif fs.exists(path):
        files = [path]
    else:
        raise InputError(f"input {path} does not exist")
    files = sorted(f if f.startswith(protocol) else f"{protocol}{f}" for f in files)
    if not files:
        raise InputError(f"no input files match {path}")
    return files


def input_format(files: list[str]) -> str:
    suffixes = {PurePosixPath(f).suffix.lower() for f in files}
    if suffixes <= set(PARQUET_SUFFIXES):
        return "parquet"
    if suffixes <= {".csv"}:
        return "csv"
    raise InputError(f"input files must all be Parquet or all CSV; found {', '.join(sorted(suffixes))}")


def load_batch(path: str, settings: Settings, *, blocksize: str = "64MiB"):
    """A lazy Dask frame over the input; CSV columns are read as text and typed by validation."""
    import dask.dataframe as dd

    files = _input_files(path, settings)
    options = storage_options(path, settings)
    try:
        if input_format(files) == "parquet":
            return dd.read_parquet(files, storage_options=options, blocksize=blocksize)
        return dd.read_csv(files, dtype="string", blocksize=blocksize, storage_options=options)
    except InputError:
        raise
    except Exception as error:
        raise InputError(f"input {path} is not readable: {first_line(error)}") from error


def first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def staging_path(output: str, run_id: str) -> str:
    parent, name = output.rstrip("/").rsplit("/", 1) if "/" in output.rstrip("/") else (".", output)
    return f"{parent}/.{name}.staging-{run_id}"


def write_part(frame: pd.DataFrame, folder: str, index: int, fmt: str, settings: Settings) -> str:
    path = f"{folder}/part-{index:05d}.{fmt}"
    options = storage_options(path, settings)
    if not path.startswith("s3://"):
        from pathlib import Path

        Path(folder).mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        frame.to_parquet(path, index=False, storage_options=options or None)
    else:
        frame.to_csv(path, index=False, storage_options=options or None)
    return path


def commit_output(staging: str, output: str, run_record: dict[str, Any], settings: Settings) -> None:
    """Mark the staged folder complete, then move it over whatever the output held."""
    fs = filesystem(output, settings)
    with fs.open(f"{staging}/_run.json", "w") as stream:
        stream.write(json.dumps(run_record, indent=2, default=str))
    if output.startswith("s3://"):
        _commit_s3(fs, staging, output)
        return
    fs.touch(f"{staging}/_SUCCESS")
    old = f"{staging}.replaced"
    if os.path.exists(output):
        os.rename(output, old)
    os.rename(staging, output)
    shutil.rmtree(old, ignore_errors=True)


def _commit_s3(fs, staging: str, output: str) -> None:
    """S3 has no rename: replace the output by copies of the staged files, ``_SUCCESS`` last."""
    fs.invalidate_cache()  # workers wrote the parts; this process's listings are stale
    source = staging.removeprefix("s3://")
    files = fs.find(source)
    if fs.exists(output):
        fs.rm(output, recursive=True)
    for path in files:
        fs.copy(path, f"{output.rstrip('/')}{path[len(source):]}")
    fs.touch(f"{output.rstrip('/')}/_SUCCESS")
    fs.rm(source, recursive=True)


def discard_staging(staging: str, settings: Settings) -> None:
    fs = filesystem(staging, settings)
    fs.invalidate_cache()
    if fs.exists(staging):
        fs.rm(staging, recursive=True)

"""Processes that build frames on many threads keep text in Python objects (registry/frames.py):
pyarrow-backed strings built on several threads at once crashed the api-server."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

BUILT_FRAME_STORAGE = """
import pandas as pd
{setup}
print(pd.DataFrame({{"a": ["x"]}})["a"].dtype.storage)
"""


def _storage_after(setup: str) -> str:
    completed = subprocess.run([sys.executable, "-c", BUILT_FRAME_STORAGE.format(setup=setup)],
                               capture_output=True, text=True, timeout=120, cwd=REPO,
                               env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'plugins'}"})
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout.strip().splitlines()[-1]  # Airflow may log warnings to stdout first


def test_pandas_default_is_pyarrow_so_the_guard_matters():
    assert _storage_after("") == "pyarrow"


def test_the_models_page_app_keeps_text_in_python_objects():
    assert _storage_after("from modelyard_page.app import create_app; create_app()") == "python"


def test_a_dask_worker_loading_a_model_keeps_text_in_python_objects():
    setup = ("from pipelines.scoring.partition import ModelPlugin\n"
             "import pipelines.scoring.partition as p; p.download_predictor = lambda *a: None\n"
             "ModelPlugin('m', 'uri', None).setup(worker=None)")
    assert _storage_after(setup) == "python"

"""Every flavor the registry imports is served like a trained model: /predict, /invocations and
V2 answer what the in-process predictor answers. One real ``bentoml serve`` per flavor."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest

from registry.predictors import load_predictor
from tests.bento_services.conftest import serving

FILES = {"xgboost": "xgb.json", "lightgbm": "lgb.txt", "onnx": "logistic.onnx", "sklearn_unnamed": "ridge_unnamed.skops"}


@pytest.fixture(scope="module")
def imported(external, tmp_path_factory):
    """Each external model file imported into one home, as ``modelyard models import`` does."""
    from registry.catalog import download_model_dir
    from registry.importing import import_model
    from registry.settings import Settings

    settings = Settings(home=tmp_path_factory.mktemp("flavors"))
    folders = {}
    for flavor, file in FILES.items():
        version = import_model(external.folder / file, f"wine_{flavor}", sample=external.sample_csv,
                               target="label", settings=settings)
        folders[flavor] = download_model_dir(version.ref, tmp_path_factory.mktemp(flavor), settings)
    return folders


@pytest.mark.parametrize("flavor", sorted(FILES))
def test_each_flavor_answers_like_its_predictor(imported, external, tmp_path, flavor):
    rows = external.features.iloc[::20]  # 9 rows across the three cultivars
    expected = load_predictor(imported[flavor]).predict(rows)
    with serving(imported[flavor], f"wine_{flavor}", 1, tmp_path) as server, \
            httpx.Client(base_url=server.url, timeout=30.0) as client:
        single = [client.post("/predict", json=[row]).json()["predictions"][0]  # the batched path
                  for row in rows.to_dict(orient="records")]
        many = client.post("/predict", json={"columns": rows.to_dict(orient="list")}).json()["predictions"]
        invocations = client.post("/invocations", json={"dataframe_split": {
            "columns": list(rows.columns), "data": rows.to_numpy().tolist()}}).json()["predictions"]
        tensor = {"name": "input-0", "shape": list(rows.shape), "datatype": "FP64",
                  "data": rows.to_numpy().ravel().tolist()}
        v2 = client.post(f"/v2/models/wine_{flavor}/infer", json={"inputs": [tensor]}).json()["outputs"]
    rtol = 1e-5 if flavor == "onnx" else 1e-9  # float32 graphs round differently with the batch size
    for served in (pd.DataFrame(single), pd.DataFrame(many)):
        assert list(served.columns) == list(expected.columns)
        _same(served["prediction"], expected["prediction"])
        for column in expected.columns[1:]:
            if expected[column].dtype == np.float32:  # written with float32's digits: the same float32 read back
                np.testing.assert_array_equal(served[column].astype(np.float32), expected[column])
            else:
                np.testing.assert_allclose(served[column], expected[column], rtol=rtol, atol=1e-9)
    _same(pd.Series(invocations), expected["prediction"])
    _same(pd.Series(next(o["data"] for o in v2 if o["name"] == "prediction")), expected["prediction"])


def _same(served: pd.Series, expected: pd.Series) -> None:
    if pd.api.types.is_float_dtype(expected):
        np.testing.assert_allclose(served.astype(float), expected, rtol=1e-9)
    else:
        assert served.tolist() == expected.tolist()

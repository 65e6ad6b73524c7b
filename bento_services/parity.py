"""The parity check: a served version must answer its input example as the in-process model does."""

from __future__ import annotations

from pathlib import Path

import httpx


def load_locally(model_dir: Path):
    """The in-process predictor (the parity reference) and the model's input example."""
    from mlflow.models import Model

    from registry.predictors import load_predictor

    predictor = load_predictor(model_dir)
    example = Model.load(str(model_dir)).load_input_example(str(model_dir))
    return predictor, example


def compare(url: str, predictor, example) -> None:
    """``/predict`` on the input example must give the in-process predictor's answer."""
    import numpy as np
    import pandas as pd

    if example is None:
        return  # models imported without sample data have no example: readiness is the check
    response = httpx.post(f"{url}/predict", json=example.to_dict(orient="records"), timeout=30.0)
    if response.status_code != 200:
        raise RuntimeError(f"POST /predict answered {response.status_code}: {response.text[:500]}")
    served = pd.DataFrame(response.json()["predictions"])
    expected = predictor.predict(example).reset_index(drop=True)
    if list(served.columns) != list(expected.columns) or len(served) != len(expected):
        raise RuntimeError(f"POST /predict returned columns {list(served.columns)} x {len(served)} rows, "
                           f"expected {list(expected.columns)} x {len(expected)}")
    for column in expected.columns:
        want, got = expected[column].to_numpy(), served[column].to_numpy()
        numeric = column != "prediction" or predictor.card.task != "classification"
        # float32 models (ONNX, boosters) round differently with the batch size
        same = np.allclose(got.astype(float), want.astype(float), rtol=1e-5, atol=1e-7) if numeric \
            else got.tolist() == want.tolist()
        if not same:
            raise RuntimeError(f"POST /predict differs from the in-process predictor in {column!r}: "
                               f"{got.tolist()[:5]} != {want.tolist()[:5]}")

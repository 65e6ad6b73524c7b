"""The parity check: a served version must answer its input example as the in-process model does.

The reference answer is made where the model is loaded anyway (the build), and travels with the
build as a ``ParityCase``; the parity step then needs only HTTP, not the model and its libraries
again (in a DAG it is a task process of its own). A build made earlier (a rollback's, a restart's)
keeps it in the version's folder (``save_case``); one without it loads the model itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from registry.files import write_atomic
from registry.runtimes import RuntimeChoice


class ParityCase(BaseModel):
    """The input example and the in-process predictor's answer to it."""

    records: list[dict[str, Any]]
    expected: dict[str, list[Any]]
    exact: list[str] = []  # compared for equality (class labels); the others within float tolerance
    atol: float = 1e-7  # a compiled runtime's: the tolerance it passed parity at (``registry.compiling``)


def load_locally(model_dir: Path):
    """The in-process predictor (the parity reference), the MLflow model and its input example."""
    from mlflow.models import Model

    from registry.predictors import load_predictor

    predictor, model = load_predictor(model_dir), Model.load(str(model_dir))
    return predictor, model, model.load_input_example(str(model_dir))


def answer_example(predictor, example, *, tolerance: float | None = None) -> ParityCase | None:
    """The predictor's answer to the input example; None for a model without one (models
    imported without sample data: readiness is then the check). ``tolerance``: a compiled
    runtime serves, and its probabilities may differ from these by that much."""
    from registry.predictors import PREDICTION

    if example is None:
        return None
    expected = predictor.predict(example).reset_index(drop=True)
    return ParityCase(records=example.to_dict(orient="records"), expected=expected.to_dict(orient="list"),
                      exact=[PREDICTION] if predictor.card.task == "classification" else [],
                      atol=max(tolerance or 0.0, ParityCase.model_fields["atol"].default))


def reference_case(model_dir: Path) -> ParityCase | None:
    """Load the model and answer its input example (None without one)."""
    predictor, _, example = load_locally(model_dir)
    return answer_example(predictor, example)


PARITY_FILE = "parity.json"
RUNTIME_FILE = "runtime.json"


def save_case(case: ParityCase | None, folder: Path) -> None:
    """Keep the build's case beside the version's servers, for the checks of later launches (a
    restart, a rollback), which would otherwise load the model again just to ask it."""
    path = folder / PARITY_FILE
    if case is None:
        path.unlink(missing_ok=True)
        return
    write_atomic(path, case.model_dump_json().encode())


def saved_case(folder: Path) -> ParityCase | None:
    """The case a build of this version saved, if any."""
    path = folder / PARITY_FILE
    try:
        return ParityCase.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return None


def compare(url: str, case: ParityCase | None) -> None:
    """``/predict`` on the input example must give the in-process predictor's answer (checked with
    numpy alone: a deploy's process need not import pandas for it)."""
    import numpy as np

    if case is None:
        return
    response = httpx.post(f"{url}/predict", json=case.records, timeout=30.0)
    if response.status_code != 200:
        raise RuntimeError(f"POST /predict answered {response.status_code}: {response.text[:500]}")
    rows = response.json()["predictions"]
    served = {column: [row.get(column) for row in rows] for column in (rows[0] if rows else {})}
    if list(served) != list(case.expected) or any(len(rows) != len(values) for values in case.expected.values()):
        raise RuntimeError(f"POST /predict returned columns {list(served)} x {len(rows)} rows, "
                           f"expected {list(case.expected)} x {len(next(iter(case.expected.values()), []))}")
    for column, want in case.expected.items():
        got = served[column]
        # float32 models (ONNX, boosters) round differently with the batch size
        same = got == want if column in case.exact \
            else np.allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=1e-5, atol=case.atol)
        if not same:
            raise RuntimeError(f"POST /predict differs from the in-process predictor in {column!r}: "
                               f"{got[:5]} != {want[:5]}")


def save_runtime(runtime: RuntimeChoice, folder: Path) -> None:
    """Keep the build's runtime choice beside its snapshot: a rollback to this build serves the
    same predictor and records the same figures."""
    write_atomic(folder / RUNTIME_FILE, runtime.model_dump_json().encode())


def saved_runtime(folder: Path) -> RuntimeChoice | None:
    try:
        return RuntimeChoice.model_validate_json((folder / RUNTIME_FILE).read_text())
    except (OSError, ValueError):
        return None

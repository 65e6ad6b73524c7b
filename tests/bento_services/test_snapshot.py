"""The build's snapshot of a loaded model: a real ``bentoml serve`` starts from it and answers as
the MLflow-loaded model does; a snapshot of another model, or a broken one, is ignored."""

from __future__ import annotations

import shutil

import httpx
import pandas as pd

from bento_services.model import ServedModel, ServeSettings
from bento_services.snapshot import SNAPSHOT_FILE, read_snapshot, write_snapshot
from tests.bento_services.conftest import MODEL_REF, serving


def _example(model_dir) -> pd.DataFrame:
    from mlflow.models import Model

    return Model.load(str(model_dir)).load_input_example(str(model_dir))


def test_a_snapshot_answers_as_the_mlflow_model_and_only_for_its_own_model(model_dir, tmp_path):
    name, version = MODEL_REF
    loaded = ServedModel.from_model_dir(model_dir, name, version)
    path = write_snapshot(loaded, model_dir, tmp_path)
    assert path == tmp_path / SNAPSHOT_FILE and not list(tmp_path.glob("*.tmp"))

    served = ServedModel.load(ServeSettings(model_dir=model_dir, model_name=name, model_version=version,
                                            snapshot=path))
    assert served.loaded_from == "snapshot" and (served.inputs, served.features) == (loaded.inputs, loaded.features)
    pd.testing.assert_frame_equal(served.predict(_example(model_dir)), loaded.predict(_example(model_dir)))

    other = tmp_path / "other"  # the same files, registered again: another model_uuid
    shutil.copytree(model_dir, other)
    mlmodel = other / "MLmodel"
    mlmodel.write_text("\n".join(line if not line.startswith("model_uuid:") else "model_uuid: 0000"
                                 for line in mlmodel.read_text().splitlines()))
    assert read_snapshot(path, other) is None
    assert ServedModel.load(ServeSettings(model_dir=other, model_name=name, model_version=version,
                                          snapshot=path)).loaded_from == "mlflow"

    path.write_bytes(path.read_bytes()[:100])  # cut short
    assert read_snapshot(path, model_dir) is None


def test_a_server_starts_from_the_snapshot_and_says_so(model_dir, tmp_path):
    name, version = MODEL_REF
    path = write_snapshot(ServedModel.from_model_dir(model_dir, name, version), model_dir, tmp_path)
    example = _example(model_dir)
    expected = ServedModel.from_model_dir(model_dir, name, version).predict(example)
    with serving(model_dir, name, version, tmp_path / "server", MODELYARD_SERVE_SNAPSHOT=str(path)) as server:
        response = httpx.post(f"{server.url}/predict", json=example.to_dict(orient="records"), timeout=30)
        log = (tmp_path / "server" / "serve.log").read_text()
    assert response.status_code == 200, response.text
    assert pd.DataFrame(response.json()["predictions"])["prediction"].tolist() == expected["prediction"].tolist()
    assert f"serving {name} version {version}, loaded from snapshot in" in log, log[-2000:]


def test_a_model_that_does_not_pickle_gets_no_snapshot_and_loads_as_before(model_dir, tmp_path):
    name, version = MODEL_REF
    loaded = ServedModel.from_model_dir(model_dir, name, version)
    (tmp_path / SNAPSHOT_FILE).write_bytes(b"an older snapshot")
    unpicklable = ServedModel(name, version, lambda frame: frame, loaded.features, loaded.inputs, loaded.outputs)
    assert write_snapshot(unpicklable, model_dir, tmp_path) is None
    assert list(tmp_path.iterdir()) == []  # neither half a file nor the older one is left to start from

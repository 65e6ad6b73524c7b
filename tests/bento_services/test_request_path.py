"""The request path without pandas: JSON numbers become a float matrix, a compiled predictor takes it
as it is, the answer goes back as plain lists; anything else takes the frame path that names problems."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

from bento_services import v2
from bento_services.batching import MicroBatcher
from bento_services.model import ServedModel
from bento_services.payloads import Feature, features_from_records
from bento_services.rows import Matrix, Predictions
from registry.card import ModelCard
from registry.compiling import choose_runtime
from registry.predictors import make_predictor


@pytest.fixture(scope="module")
def served():
    """The breast-cancer forest, native and in the runtime a deploy would choose (ONNX Runtime)."""
    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(features, target)
    card = ModelCard(flavor="sklearn", task="classification", feature_names=list(features.columns), classes=[0, 1])
    native = make_predictor(model, card)
    compiled, choice = choose_runtime(native, features)
    assert choice.runtime == "onnxruntime" and compiled.takes_arrays, choice.summary
    columns = [Feature(name) for name in features.columns]
    make = lambda predictor: ServedModel("m", 1, predictor, columns, [], [], runtime=predictor.runtime)  # noqa: E731
    return make(native), make(compiled), features


def test_json_numbers_become_a_matrix_and_anything_else_takes_the_frame_path(served):
    _, _, features = served
    names = list(features.columns)
    columns = [Feature(name) for name in names]
    records = features.head(3).to_dict(orient="records")
    matrix = features_from_records(records, columns)
    assert isinstance(matrix, Matrix) and matrix.values.dtype == np.float64
    assert matrix.values.tolist() == features.head(3).to_numpy().tolist() and matrix.names == names
    for bad in (True, float("nan"), "1.0", None, 1e39):  # a bool, NaN, a string, null, past float32
        assert features_from_records([{**records[0], names[0]: bad}], columns) is None, bad
    assert features_from_records([{name: 1.0 for name in names[1:]}], columns) is None  # a missing feature


def test_the_matrix_path_answers_as_the_frame_path(served):
    native, compiled, features = served
    rows = features.sample(50, random_state=1)
    expected = native.predict(rows.reset_index(drop=True))
    for model in (native, compiled):
        answer = model.score(Matrix(rows.to_numpy(dtype="float64"), list(rows.columns)))
        assert isinstance(answer, Predictions)
        records = answer.records()
        assert json.loads(json.dumps(records)) == records  # plain Python values
        assert [record["prediction"] for record in records] == expected["prediction"].tolist()
        got = pd.DataFrame(records)[expected.columns]
        assert np.allclose(got.to_numpy(dtype=float), expected.to_numpy(dtype=float), atol=1e-5)
        assert answer.labels_list() == expected["prediction"].tolist()


def test_one_model_call_serves_a_matrix_and_a_frame_each_their_own_rows(served):
    native, _, features = served
    first = Matrix(features.head(2).to_numpy(dtype="float64"), list(features.columns))
    second = features.iloc[5:8].reset_index(drop=True)  # a request that took the frame path
    scored = []
    batcher = MicroBatcher(native.score, on_scored=lambda rows, answer, tags: scored.append((len(rows), tags)))

    async def both():
        blocker = asyncio.create_task(batcher.submit(first, "a"))  # the first call; the others queue behind it
        return await asyncio.gather(blocker, batcher.submit(first, "b"), batcher.submit(second, "c"))

    answers = asyncio.run(both())
    assert [len(answer) for answer in answers] == [2, 2, 3]
    assert answers[2].labels_list() == native.predict(second)["prediction"].tolist()
    assert sum(rows for rows, _ in scored) == 7 and batcher.calls == len(scored) <= 2


def test_a_quick_model_is_called_on_the_event_loop_even_when_some_calls_were_preempted(served):
    _, compiled, features = served
    rows = Matrix(features.head(1).to_numpy(dtype="float64"), list(features.columns))
    threads, delays = [], iter([0.005] + [0.0] * 8 + [0.005])  # the 1st and 10th calls as if preempted

    def score(matrix):
        threads.append(threading.get_ident())
        time.sleep(next(delays, 0.0))
        return compiled.score(matrix)

    batcher = MicroBatcher(score)

    async def one_by_one():
        for _ in range(12):
            await batcher.submit(rows)
        return threading.get_ident()

    loop_thread = asyncio.run(one_by_one())
    assert threads[0] != loop_thread  # nothing known of the model yet: a thread
    assert threads[2:] == [loop_thread] * 10  # quick since its first quick call, a slow one among them
    assert batcher.quick

    slow = MicroBatcher(lambda matrix: time.sleep(0.002) or compiled.score(matrix))  # e.g. waits on I/O

    async def three():
        for _ in range(3):
            await slow.submit(rows)

    asyncio.run(three())
    assert not slow.quick


def test_a_v2_tensor_of_numbers_is_a_matrix_and_one_with_a_string_is_a_frame(served):
    _, _, features = served
    columns = [Feature(name) for name in features.columns]
    values = features.head(2).to_numpy().ravel().tolist()
    body = {"inputs": [{"name": "x", "shape": [2, len(columns)], "datatype": "FP64", "data": values}]}
    parsed = v2.parse_infer_request(json.dumps(body).encode(), None, columns)
    assert isinstance(parsed.features, Matrix) and parsed.features.values.shape == (2, len(columns))
    per_feature = {"inputs": [{"name": name, "shape": [2], "datatype": "FP64", "data": features[name].head(2).tolist()}
                              for name in reversed(features.columns)]}  # any order: matched by name
    parsed = v2.parse_infer_request(json.dumps(per_feature).encode(), None, columns)
    assert isinstance(parsed.features, Matrix) and parsed.features.values.tolist() == features.head(2).to_numpy().tolist()
    body["inputs"][0] = {**body["inputs"][0], "datatype": "BYTES", "data": ["a", *values[1:]]}
    parsed = v2.parse_infer_request(json.dumps(body).encode(), None, columns)
    assert isinstance(parsed.features, pd.DataFrame)  # validate_features names the bad value


def test_float32_answers_read_with_their_own_digits_not_those_of_float64(served):
    native, compiled, features = served
    rows = Matrix(features.head(20).to_numpy(dtype="float64"), list(features.columns))
    answer = compiled.score(rows)
    assert np.array_equal(answer.probabilities.astype(np.float32), answer.probabilities)  # ONNX Runtime's float32
    for record, row in zip(answer.records(), answer.probabilities):
        for name, value in zip(answer.names[1:], row):
            shortest = float(str(np.float32(value)))  # numpy's shortest digits that read back as it
            assert record[name] == shortest and np.float32(record[name]) == value, record
    assert Predictions(np.array([0.97], dtype=np.float32), None, ["prediction"]).labels_list() == [0.97]
    exact = native.score(rows).probabilities  # scikit-learn's float64 answers are written as they are
    assert [value for record in native.score(rows).records() for value in list(record.values())[1:]] == \
        exact.ravel().tolist()


@pytest.mark.parametrize("size", [1, 2, 8, 9, 4_000])
def test_float32_digits_are_numpy_s_shortest_at_every_size_and_magnitude(size):
    from bento_services.rows import plain_values

    rng = np.random.default_rng(size)
    values = (rng.standard_normal(size) * 10.0 ** rng.integers(-30, 30, size)).astype(np.float32)
    values[: size // 3] = rng.choice(np.array([0.0, -0.0, 1.0, np.inf, -np.inf, 0.5], dtype=np.float32), size // 3)
    expected = values.astype(str).astype(np.float64).tolist()  # numpy's shortest repr of each float32
    assert plain_values(values.astype(np.float64)) == expected
    assert plain_values(values.astype(np.float64).reshape(-1, 1)) == [[value] for value in expected]
    doubles = rng.random(size)  # a float64 model's answers are left as they are
    assert plain_values(doubles) == doubles.tolist()

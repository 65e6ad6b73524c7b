"""The Open Inference Protocol over real HTTP, spoken by tritonclient's stock HTTP client."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException


NAME = "breast_cancer_classifier"


@pytest.fixture(scope="module")
def client(bento_server):
    client = triton.InferenceServerClient(bento_server.url.removeprefix("http://"))
    yield client
    client.close()


def test_health_and_model_metadata(client, rows):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(NAME) and client.is_model_ready(NAME, "1")
    assert not client.is_model_ready("someone_else")
    metadata = client.get_model_metadata(NAME)
    assert metadata["versions"] == ["1"] and metadata["platform"] == "modelyard-sklearn"
    assert [tensor["name"] for tensor in metadata["inputs"]] == list(rows.columns)
    assert {tensor["datatype"] for tensor in metadata["inputs"]} == {"FP64"}
    assert [(tensor["name"], tensor["datatype"]) for tensor in metadata["outputs"]] == [
        ("prediction", "INT64"), ("probability_0", "FP64"), ("probability_1", "FP64")]
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]


def _assert_answer(result, expected: pd.DataFrame) -> None:
    assert result.as_numpy("prediction").tolist() == expected["prediction"].tolist()
    for column in ("probability_0", "probability_1"):
        np.testing.assert_allclose(result.as_numpy(column), expected[column].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_one_matrix_tensor(client, rows, expected, binary):
    matrix = triton.InferInput("input-0", list(rows.shape), "FP64")
    matrix.set_data_from_numpy(rows.to_numpy(), binary_data=binary)
    outputs = None if binary else [triton.InferRequestedOutput(name, binary_data=False)
                                   for name in ("prediction", "probability_0", "probability_1")]
    result = client.infer(NAME, [matrix], outputs=outputs, request_id="req-7")
    assert result.get_response()["id"] == "req-7"
    assert result.get_response()["model_version"] == "1"
    _assert_answer(result, expected)


def test_one_tensor_per_feature_as_the_metadata_advertises(client, rows, expected):
    inputs = []
    for name in rows.columns:
        tensor = triton.InferInput(name, [len(rows)], "FP64")
        tensor.set_data_from_numpy(rows[name].to_numpy(), binary_data=name.startswith("mean"))  # mixed on purpose
        inputs.append(tensor)
    _assert_answer(client.infer(NAME, inputs, model_version="1"), expected)


def test_float32_input_is_accepted(client, rows):
    matrix = triton.InferInput("x", [3, rows.shape[1]], "FP32")
    matrix.set_data_from_numpy(rows.iloc[:3].to_numpy(dtype=np.float32))
    result = client.infer(NAME, [matrix])  # values differ from FP64 by rounding: shape and type are the point
    assert result.as_numpy("prediction").shape == (3,) and result.as_numpy("probability_1").dtype == np.float64


def test_asyncio_client_gets_batched_answers(bento_server, rows, expected):
    """Concurrent single-row requests (the adaptive batching path) each get their own row back."""
    import tritonclient.http.aio as triton_aio

    async def run():
        client = triton_aio.InferenceServerClient(bento_server.url.removeprefix("http://"))
        try:
            async def one(index):
                tensor = triton_aio.InferInput("x", [1, rows.shape[1]], "FP64")
                tensor.set_data_from_numpy(rows.iloc[[index]].to_numpy())
                return await client.infer(NAME, [tensor])
            return await asyncio.gather(*(one(index) for index in range(len(rows))))
        finally:
            await client.close()

    results = asyncio.run(run())
    assert [result.as_numpy("prediction")[0] for result in results] == expected["prediction"].tolist()
    assert [result.as_numpy("probability_1")[0] for result in results] == pytest.approx(
        expected["probability_1"].tolist(), rel=1e-12)


@pytest.mark.parametrize("make, status, named", [
    (lambda width: {"inputs": []}, 400, "non-empty \"inputs\""),
    (lambda width: {"inputs": [{"name": "x", "shape": [1, width], "datatype": "FP64", "data": [1.0] * (width - 1)}]},
     400, "holds 30 value(s) but 29 were sent"),
    (lambda width: {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1.0, 2.0, 3.0]}]},
     400, "shape [rows, 30]"),
    (lambda width: {"inputs": [{"name": "x", "shape": [1, width], "datatype": "FP99", "data": [1.0] * width}]},
     400, "datatype must be one of"),
    (lambda width: {"inputs": [{"name": "x", "shape": [1, width], "datatype": "BYTES", "data": ["a"] * width}]},
     422, "non-numeric string 'a'"),
    (lambda width: {"inputs": [{"name": "mean_radius", "shape": [1], "datatype": "FP64", "data": [1.0]}]},
     422, "missing feature(s): mean_texture"),
    (lambda width: {"inputs": [{"name": "x", "shape": [1, width], "datatype": "FP64", "data": [1.0] * width}],
                    "outputs": [{"name": "score"}]}, 400, "unknown output(s) ['score']"),
])
def test_bad_v2_requests_name_the_problem(bento_server, make, status, named):
    response = httpx.post(f"{bento_server.url}/v2/models/{NAME}/infer", json=make(30), timeout=30.0)
    assert response.status_code == status, response.text
    assert named in response.json()["error"]


def test_unknown_model_or_version_is_404(bento_server):
    body = {"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": [1.0] * 30}]}
    for path in ("/v2/models/other/infer", f"/v2/models/{NAME}/versions/2/infer"):
        response = httpx.post(f"{bento_server.url}{path}", json=body, timeout=30.0)
        assert response.status_code == 404 and "is not served here" in response.json()["error"]


def test_triton_client_raises_with_the_servers_message(client):
    bad = triton.InferInput("x", [1, 2], "FP64")
    bad.set_data_from_numpy(np.zeros((1, 2)))
    with pytest.raises(InferenceServerException, match=r"shape \[rows, 30\]"):
        client.infer(NAME, [bad])


def test_short_binary_data_is_400(bento_server):
    header = b'{"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "parameters": {"binary_data_size": 240}}]}'
    response = httpx.post(f"{bento_server.url}/v2/models/{NAME}/infer", content=header + b"\0" * 16,
                          headers={"Inference-Header-Content-Length": str(len(header))}, timeout=30.0)
    assert response.status_code == 400 and "only 16 remain" in response.json()["error"]

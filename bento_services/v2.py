"""The Open Inference Protocol (KServe V2) for tabular models: requests to frames, frames to answers.

Pure functions, like ``payloads``: the service routes call them, tests call them without a server.
A V2 request carries tensors; a tabular model wants named columns. Two shapes are understood:

- one tensor per feature, named after it, of shape ``[n]`` or ``[n, 1]`` (what the model's
  ``GET /v2/models/{name}`` metadata advertises);
- one tensor of shape ``[n, n_features]`` whatever its name, columns in the model's feature order
  (what ``tritonclient`` users send from a numpy matrix).

Tensor data comes as JSON (``data``, flat row-major or nested) or, with the binary tensor data
extension that ``tritonclient`` uses by default, as raw little-endian bytes after a JSON header
whose length is in the ``Inference-Header-Content-Length`` header. Answers use the same
extension when the request asks for it (``binary_data_output``, or ``binary_data`` per output).
Every malformed request is a ``PayloadError`` that names the tensor and what is wrong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bento_services.payloads import FLOAT_LIMIT, Feature, PayloadError, decode_json, real_valued
from bento_services.rows import Matrix, Predictions, plain_values, real_matrix

HEADER_LENGTH = "Inference-Header-Content-Length"
NUMPY_TYPES = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64, "BYTES": np.object_,
}
SIGNATURE_TYPES = {"double": "FP64", "float": "FP32", "long": "INT64", "integer": "INT32",
                   "boolean": "BOOL", "string": "BYTES"}


@dataclass
class InferRequest:
    """A decoded V2 request: its features (a checked ``Matrix`` for real-valued numbers, else a frame
    of raw values for ``validate_features``) and how to answer it."""

    id: str | None
    features: Matrix | pd.DataFrame
    outputs: list[str] | None  # None: every output
    binary: dict[str, bool]  # per output name, or "*" for all


def server_metadata(version: str) -> dict[str, Any]:
    return {"name": "modelyard", "version": version, "extensions": ["binary_tensor_data"]}


def model_metadata(name: str, version: int, flavor: str, features: list[Feature],
                   outputs: list[tuple[str, str]]) -> dict[str, Any]:
    """``GET /v2/models/{name}``: one ``[-1]`` input tensor per feature, one output per column."""
    return {
        "name": name, "versions": [str(version)], "platform": f"modelyard-{flavor}",
        "inputs": [{"name": feature.name, "datatype": SIGNATURE_TYPES.get(feature.type, "FP64"), "shape": [-1]}
                   for feature in features],
        "outputs": [{"name": column, "datatype": datatype, "shape": [-1]} for column, datatype in outputs],
    }


def parse_infer_request(body: bytes, header_length: str | None, features: list[Feature]) -> InferRequest:
    """The request's tensors as a float matrix when every value is a real number in range (no
    DataFrame on the way), else as one raw feature frame whose value types ``validate_features``
    checks like every other route's; shapes and sizes are checked here."""
    header, binary = _split_body(body, header_length)
    request = decode_json(header)
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list) or not request["inputs"]:
        raise PayloadError('a V2 request is a JSON object with a non-empty "inputs" list of tensors',
                           [{"field": "inputs", "problem": "missing or empty"}])
    tensors = [_tensor(spec, index, binary) for index, spec in enumerate(request["inputs"])]
    if binary.remaining():
        raise PayloadError(f"{binary.remaining()} byte(s) of binary data follow the tensors that declared theirs",
                           [{"field": "body", "problem": "trailing binary data"}])
    frame = _frame(tensors, features)
    parameters = request.get("parameters") if isinstance(request.get("parameters"), dict) else {}
    outputs, binary_outputs = _requested_outputs(request.get("outputs"), bool(parameters.get("binary_data_output")))
    request_id = request.get("id")
    return InferRequest(str(request_id) if request_id is not None else None, frame, outputs, binary_outputs)


def output_datatype(values: pd.Series | np.ndarray) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "BOOL"
    if pd.api.types.is_integer_dtype(values):
        return "INT64"
    if pd.api.types.is_float_dtype(values):
        return "FP64"
    return "BYTES"


def infer_response(result: Predictions, request: InferRequest, name: str, version: int) -> tuple[bytes, dict[str, str]]:
    """The answer body and its extra headers; binary outputs follow a JSON header."""
    columns = result.columns()
    wanted = request.outputs or list(columns)
    unknown = [column for column in wanted if column not in columns]
    if unknown:
        raise PayloadError(f"unknown output(s) {unknown}; this model answers {list(columns)}",
                           [{"field": f"outputs.{column}", "problem": "unknown"} for column in unknown])
    outputs, chunks = [], []
    for column in wanted:
        values = columns[column]
        datatype = output_datatype(values)
        tensor: dict[str, Any] = {"name": column, "datatype": datatype, "shape": [len(values)]}
        if request.binary.get(column, request.binary.get("*", False)):
            raw = _to_bytes(values, datatype)
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = values.astype(str).tolist() if datatype == "BYTES" else plain_values(values)
        outputs.append(tensor)
    answer: dict[str, Any] = {"model_name": name, "model_version": str(version), "outputs": outputs}
    if request.id is not None:
        answer["id"] = request.id
    header = json.dumps(answer).encode()
    if not chunks:
        return header, {}
    return header + b"".join(chunks), {HEADER_LENGTH: str(len(header))}


class _Binary:
    """The bytes after the JSON header, handed out tensor by tensor in order."""

    def __init__(self, data: bytes):
        self.data, self.offset = data, 0

    def take(self, size: int, where: str) -> bytes:
        if self.offset + size > len(self.data):
            raise PayloadError(f"{where}: declares {size} byte(s) of binary data but only "
                               f"{len(self.data) - self.offset} remain", [{"field": where, "problem": "short binary data"}])
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def remaining(self) -> int:
        return len(self.data) - self.offset


def _split_body(body: bytes, header_length: str | None) -> tuple[bytes, _Binary]:
    if header_length is None:
        return body, _Binary(b"")
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 < length <= len(body):
        raise PayloadError(f"{HEADER_LENGTH} must be a length between 1 and the body's {len(body)} bytes, "
                           f"got {header_length!r}", [{"field": HEADER_LENGTH, "problem": "out of range"}])
    return body[:length], _Binary(body[length:])


def _tensor(spec: Any, index: int, binary: _Binary) -> tuple[str, list[int], np.ndarray]:
    """(name, shape, values as a flat object array) of one input tensor."""
    where = f"inputs[{index}]"
    if not isinstance(spec, dict):
        raise PayloadError(f"{where} must be a tensor object", [{"field": where, "problem": "not an object"}])
    name, shape, datatype = spec.get("name"), spec.get("shape"), spec.get("datatype")
    if not isinstance(name, str) or not name:
        raise PayloadError(f"{where}: a tensor needs a name", [{"field": where, "problem": "no name"}])
    where = f"input {name!r}"
    if not isinstance(shape, list) or not shape or not all(_is_size(size) for size in shape):
        raise PayloadError(f"{where}: shape must be a list of non-negative integers, got {shape!r}"[:200],
                           [{"field": name, "problem": "bad shape"}])
    if not isinstance(datatype, str) or datatype not in NUMPY_TYPES:
        raise PayloadError(f"{where}: datatype must be one of {sorted(NUMPY_TYPES)}, got {datatype!r}"[:200],
                           [{"field": name, "problem": "bad datatype"}])
    count = math.prod(shape)
    parameters = spec.get("parameters") if isinstance(spec.get("parameters"), dict) else {}
    size = parameters.get("binary_data_size")
    if size is not None:
        if not _is_size(size):
            raise PayloadError(f"{where}: binary_data_size must be a non-negative integer",
                               [{"field": name, "problem": "bad binary_data_size"}])
        values = _from_bytes(binary.take(size, where), datatype, where)
    elif "data" in spec:
        values = _flatten(spec["data"], where)
    else:
        raise PayloadError(f"{where}: no data (neither \"data\" nor parameters.binary_data_size)",
                           [{"field": name, "problem": "no data"}])
    if len(values) != count:
        raise PayloadError(f"{where}: shape {shape} holds {count} value(s) but {len(values)} were sent",
                           [{"field": name, "problem": "data does not match shape"}])
    return name, shape, values


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def _flatten(data: Any, where: str) -> np.ndarray:
    """JSON tensor data, flat or nested row-major, as a flat object array (values unchecked)."""
    if not isinstance(data, list):
        data = [data]
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:  # iterative, so deeply nested lists cannot exhaust the recursion limit
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            if isinstance(item, dict):
                raise PayloadError(f"{where}: data must hold values, not objects",
                                   [{"field": where, "problem": "object in data"}])
            flat.append(item)
        else:
            stack.pop()
    values = np.empty(len(flat), dtype=object)
    values[:] = flat
    return values


def _from_bytes(raw: bytes, datatype: str, where: str) -> np.ndarray:
    if datatype == "BYTES":
        items, offset = [], 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise PayloadError(f"{where}: truncated BYTES element length", [{"field": where, "problem": "bad bytes"}])
            length = int.from_bytes(raw[offset:offset + 4], "little")
            item = raw[offset + 4:offset + 4 + length]
            if len(item) != length:
                raise PayloadError(f"{where}: truncated BYTES element", [{"field": where, "problem": "bad bytes"}])
            items.append(item.decode("utf-8", errors="replace"))
            offset += 4 + length
        values = np.empty(len(items), dtype=object)
        values[:] = items
        return values
    dtype = np.dtype(NUMPY_TYPES[datatype]).newbyteorder("<")
    if len(raw) % dtype.itemsize:
        raise PayloadError(f"{where}: {len(raw)} byte(s) is not a whole number of {datatype} values",
                           [{"field": where, "problem": "bad binary size"}])
    return np.frombuffer(raw, dtype=dtype).astype(object)


def _frame(tensors: list[tuple[str, list[int], np.ndarray]], features: list[Feature]) -> Matrix | pd.DataFrame:
    names = [feature.name for feature in features]
    real = real_valued(features)
    if len(tensors) == 1 and (tensors[0][0] not in names or len(names) == 1):
        name, shape, values = tensors[0]
        width = shape[-1] if len(shape) == 2 else (1 if len(shape) == 1 and len(names) == 1 else None)
        if width != len(names):
            raise PayloadError(
                f"input {name!r}: a single tensor must have shape [rows, {len(names)}] with columns in the "
                f"order {names[:5]}{'...' if len(names) > 5 else ''}, or send one tensor per feature; got {shape}",
                [{"field": name, "problem": f"shape {shape}"}])
        rows = values.reshape(-1, width)
        matrix = real_matrix(rows.tolist(), names, FLOAT_LIMIT) if real and len(rows) else None
        return matrix if matrix is not None else pd.DataFrame(rows, columns=names)
    columns, lengths = {}, set()
    for name, shape, values in tensors:
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise PayloadError(f"input {name!r}: a per-feature tensor has shape [rows] or [rows, 1], got {shape}",
                               [{"field": name, "problem": f"shape {shape}"}])
        if name in columns:
            raise PayloadError(f"input {name!r} is sent twice", [{"field": name, "problem": "duplicate"}])
        columns[name] = values
        lengths.add(len(values))
    if len(lengths) > 1:
        raise PayloadError(f"per-feature tensors must all have the same number of rows, got {sorted(lengths)}",
                           [{"field": name, "problem": f"{len(values)} rows"} for name, _, values in tensors])
    if real and set(columns) == set(names) and lengths != {0}:
        matrix = real_matrix(np.column_stack([columns[name] for name in names]).tolist(), names, FLOAT_LIMIT)
        if matrix is not None:
            return matrix
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})


def _requested_outputs(spec: Any, binary_default: bool) -> tuple[list[str] | None, dict[str, bool]]:
    if spec is None:
        return None, {"*": binary_default}
    if not isinstance(spec, list) or not all(isinstance(item, dict) and isinstance(item.get("name"), str)
                                             for item in spec):
        raise PayloadError('"outputs" must be a list of {"name": ...} objects',
                           [{"field": "outputs", "problem": "malformed"}])
    binary = {"*": binary_default}
    for item in spec:
        parameters = item.get("parameters") if isinstance(item.get("parameters"), dict) else {}
        binary[item["name"]] = bool(parameters.get("binary_data", binary_default))
    return [item["name"] for item in spec], binary


def _to_bytes(values: np.ndarray, datatype: str) -> bytes:
    if datatype == "BYTES":
        encoded = [str(value).encode() for value in values]
        return b"".join(len(item).to_bytes(4, "little") + item for item in encoded)
    dtype = np.dtype(NUMPY_TYPES[datatype]).newbyteorder("<")
    return np.ascontiguousarray(values, dtype=dtype).tobytes()

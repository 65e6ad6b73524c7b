"""A request's rows and answers on the request path, as numpy arrays rather than DataFrames.

Building a one-row DataFrame, selecting its columns and turning the answer back into records cost
more CPU than a compiled model's whole call (measured in benchmarks/README.md). A request of
real-valued features becomes a ``Matrix`` (float64, the model card's feature order) and its answer
a ``Predictions`` (labels or values, probabilities per class); both give the request log its
columns off the request path. A request with other types keeps its validated DataFrame.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Matrix:
    """Rows of a model's real-valued features, checked: finite, within float32's range."""

    values: np.ndarray  # float64, (rows, features)
    names: list[str]

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def stacked(cls, parts: list["Matrix"]) -> "Matrix":
        """The parts' rows one after another (the same features)."""
        return parts[0] if len(parts) == 1 else cls(np.concatenate([part.values for part in parts]), parts[0].names)

    def columns(self) -> dict[str, np.ndarray]:
        return {name: self.values[:, index] for index, name in enumerate(self.names)}

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.values, columns=self.names)


@dataclass(frozen=True)
class Predictions:
    """A model call's answer: ``names`` are ``prediction`` then the probability columns."""

    labels: np.ndarray
    probabilities: np.ndarray | None
    names: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def stacked(cls, parts: list["Predictions"]) -> "Predictions":
        """The parts' rows one after another (the same model's answers)."""
        if len(parts) == 1:
            return parts[0]
        probabilities = None if parts[0].probabilities is None else \
            np.concatenate([part.probabilities for part in parts])
        return cls(np.concatenate([part.labels for part in parts]), probabilities, parts[0].names)

    def rows(self, start: int, end: int) -> "Predictions":
        probabilities = None if self.probabilities is None else self.probabilities[start:end]
        return Predictions(self.labels[start:end], probabilities, self.names)

    def columns(self) -> dict[str, np.ndarray]:
        columns = {self.names[0]: self.labels}
        if self.probabilities is not None:
            columns.update(zip(self.names[1:], self.probabilities.T))
        return columns

    def labels_list(self) -> list[Any]:
        """Plain Python values (numpy scalars are not JSON)."""
        return plain_values(self.labels)

    def records(self) -> list[dict[str, Any]]:
        """One ``{prediction, probability_<class>...}`` object per row, plain Python values."""
        labels = plain_values(self.labels)
        if self.probabilities is None:
            return [{self.names[0]: label} for label in labels]
        names = self.names
        return [dict(zip(names, (label, *row))) for label, row in zip(labels, plain_values(self.probabilities))]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.columns())


def plain_values(values: np.ndarray) -> list[Any]:
    """The values as Python numbers for JSON. Float values that are all float32 numbers (ONNX
    Runtime's and the boosters' answers, widened to float64 on the way) are written with float32's
    shortest digits, 0.97 rather than 0.9700000286102295, as the native model's 0.97 reads: the
    digits past float32's precision are the widening's, not the model's. Values with no float32
    equal, a float64 model's, are written as they are. A one-row answer takes a few microseconds;
    a bigger one is done on the whole array at once."""
    if values.dtype.kind != "f" or not values.size:
        return values.tolist()
    if values.size <= SMALL_ANSWER:
        plain = values.tolist()
        flat = plain if values.ndim == 1 else [value for row in plain for value in row]
        if not all(map(_is_float32, flat)):
            return plain
        return [_shortest(value) for value in plain] if values.ndim == 1 else \
            [[_shortest(value) for value in row] for row in plain]
    narrowed = values.astype(np.float32)
    if not np.array_equal(narrowed, values, equal_nan=True):  # NaN is a float32 too, as above
        return values.tolist()
    return _shortest_array(narrowed).tolist()


SMALL_ANSWER = 8  # values; more are rounded on the whole array at once
_FLOAT32 = struct.Struct("f")


def _is_float32(value: float) -> bool:
    try:
        return _FLOAT32.unpack(_FLOAT32.pack(value))[0] == value or value != value  # NaN is one too
    except OverflowError:  # beyond float32's range
        return False


def _shortest(value: float) -> float:
    """The float32 ``value``'s shortest decimal that reads back as it (numpy's repr of it)."""
    return float(str(np.float32(value)))


def _shortest_array(narrowed: np.ndarray) -> np.ndarray:
    """``_shortest`` of each value, on the array (numpy's string conversion costs ~1 us a value):
    its decimal rounded to 6, 7, 8 then 9 significant digits, each value taking the first that
    reads back as its float32. The scaling is exact only for powers of ten up to 1e22, so values
    outside 1e-14..1e6 (rare in answers) take numpy's string conversion."""
    wide = narrowed.astype(np.float64)
    out = wide.copy()
    exponents = np.floor(np.log10(np.abs(np.where(np.isfinite(wide) & (wide != 0), wide, 1.0))))
    todo = np.isfinite(wide) & (wide != 0) & (exponents >= -14) & (exponents <= 5)
    rest = np.isfinite(wide) & (wide != 0) & ~todo
    if rest.any():
        out[rest] = narrowed[rest].astype(str).astype(np.float64)
    for digits in (6, 7, 8, 9):
        scale = 10.0 ** (digits - 1 - exponents)
        rounded = np.rint(wide * scale) / scale
        fits = todo & (rounded.astype(np.float32) == narrowed)
        out[fits] = rounded[fits]
        todo &= ~fits
        if not todo.any():
            break
    return out


def real_matrix(rows: list[list[Any]], names: list[str], limit: float) -> Matrix | None:
    """``rows`` as a Matrix when every value is a JSON number (bool is not) of a magnitude below
    ``limit``; None for anything else, which takes the path that names each problem."""
    for row in rows:
        for value in row:
            # type, not isinstance: bool is an int subclass; NaN fails both comparisons
            if (type(value) is not float and type(value) is not int) or not -limit < value < limit:
                return None
    return Matrix(np.array(rows, dtype="float64").reshape(len(rows), len(names)), names)

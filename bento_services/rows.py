"""A request's rows and answers on the request path, as numpy arrays rather than DataFrames.

Building a one-row DataFrame, selecting its columns and turning the answer back into records cost
more CPU than a compiled model's whole call (measured in benchmarks/README.md). A request of
real-valued features becomes a ``Matrix`` (float64, the model card's feature order) and its answer
a ``Predictions`` (labels or values, probabilities per class); both give the request log its
columns off the request path. A request with other types keeps its validated DataFrame.
"""

from __future__ import annotations

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
    equal, a float64 model's, are written as they are."""
    if values.dtype.kind == "f" and values.size and np.array_equal(narrowed := values.astype(np.float32), values):
        return narrowed.astype(str).astype(np.float64).tolist()
    return values.tolist()


def real_matrix(rows: list[list[Any]], names: list[str], limit: float) -> Matrix | None:
    """``rows`` as a Matrix when every value is a JSON number (bool is not) of a magnitude below
    ``limit``; None for anything else, which takes the path that names each problem."""
    for row in rows:
        for value in row:
            # type, not isinstance: bool is an int subclass; NaN fails both comparisons
            if (type(value) is not float and type(value) is not int) or not -limit < value < limit:
                return None
    return Matrix(np.array(rows, dtype="float64").reshape(len(rows), len(names)), names)

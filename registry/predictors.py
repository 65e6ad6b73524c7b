"""One way to predict with every flavor: features in, a frame of predictions out.

The batch pipeline, the online service and import-time evaluation all call this, so a model
imported from a file behaves exactly like one trained here. Each flavor's predictor lives in its
module (``registry.flavors``); this is what they share.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # the card names the flavors, whose predictors are built on this module
    from registry.card import ModelCard

PREDICTION = "prediction"


class Predictor:
    """Wraps a flavor's native model object; subclasses supply the raw outputs."""

    takes_arrays = False  # True: ``_predict`` takes a float matrix in the card's order as it is
    runtime = "native"  # or the compiled runtime that runs it (``registry.compiling``)

    def __init__(self, native: Any, card: ModelCard):
        self.native = native
        self.card = card

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """``prediction`` plus ``probability_<class>`` columns for classifiers."""
        labels, probabilities = self.predict_arrays(features)
        columns = {PREDICTION: labels}
        if probabilities is not None:  # one frame built at once: a column at a time costs ~0.2 ms each
            columns.update(zip(self.card.probability_columns, probabilities.T))
        return pd.DataFrame(columns, index=features.index)

    def predict_arrays(self, features: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(labels or values, one probability column per class or None). A float matrix in the
        card's feature order reaches a predictor that takes one (a compiled runtime) without a
        DataFrame: the online request path's one-row answers; the others get a frame."""
        names = self.card.feature_names
        if isinstance(features, np.ndarray):
            if not self.takes_arrays:
                features = pd.DataFrame(features, columns=names)
        elif list(features.columns) != names:
            features = features[names]
        return self._predict(features)

    def _predict(self, matrix: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    def _labels_from(self, probabilities: np.ndarray) -> np.ndarray:
        return np.asarray(self.card.classes)[probabilities.argmax(axis=1)]


def probabilities_per_class(probabilities: np.ndarray) -> np.ndarray:
    """Binary boosters return P(class 1) only; make it one column per class."""
    if probabilities.ndim == 1:
        return np.column_stack([1.0 - probabilities, probabilities])
    return probabilities


def make_predictor(native: Any, card: ModelCard) -> Predictor:
    from registry.flavors import flavor_named

    return flavor_named(card.flavor).predictor(native, card)


def load_predictor(model_dir: str | Path) -> Predictor:
    """Load a predictor from a local MLflow model directory written by the registry."""
    from registry.card import ModelCard
    from registry.flavors import load_native

    model_dir = Path(model_dir)
    card = ModelCard.read(model_dir)
    return make_predictor(load_native(model_dir, card.flavor), card)

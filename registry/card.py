"""The model card: what Modelyard needs to know about a model to serve it, kept beside it.

It lives at ``modelyard/model.json`` inside the MLflow model directory, so it travels with the
model into downloads and the Bento store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from registry.flavors import NAMES

CARD_DIR = "modelyard"
CARD_FILE = f"{CARD_DIR}/model.json"

Flavor = Literal[NAMES]  # the flavor registry's names
Task = Literal["classification", "regression"]


class ModelCard(BaseModel):
    flavor: Flavor
    task: Task
    feature_names: list[str]
    classes: list[Any] | None = None
    target: str | None = None
    origin: Literal["trained", "imported"] = "trained"
    source: str | None = None
    pipeline_steps: list[str] = []

    @property
    def probability_columns(self) -> list[str]:
        return [f"probability_{label}" for label in self.classes or []]

    def write(self, model_dir: Path) -> None:
        path = model_dir / CARD_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2))

    @classmethod
    def read(cls, model_dir: Path) -> "ModelCard":
        return cls.model_validate(json.loads((Path(model_dir) / CARD_FILE).read_text()))

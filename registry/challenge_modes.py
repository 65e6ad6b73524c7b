"""How a challenger takes part in a model's traffic, defined once for the CLI, the page's API, the
challenge records and the gateway (which imports nothing heavier); ``tests/dags`` holds the
``challenge_model`` DAG's Params to it."""

from __future__ import annotations

from typing import Literal, get_args

Mode = Literal["shadow", "canary"]  # shadow: sees a copy, the champion answers; canary: answers its share
MODES: tuple[str, ...] = get_args(Mode)

"""The framework's floor for the online benchmark: a BentoML service that reads the request and
returns a constant answer, with ``FLOOR_WORKERS`` workers, served and driven exactly as a model's
servers are. Whatever a model's URL costs above this is Modelyard's (gateway, parsing, the model).

    FLOOR_WORKERS=2 bentoml serve benchmarks.constant_service:Constant --host 127.0.0.1 --port 3999
"""

from __future__ import annotations

import os

import bentoml
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()
ANSWER = b'{"model_name":"constant","model_version":1,"predictions":[{"prediction":0}]}'


@app.post("/predict")
async def predict(request: Request) -> Response:
    await request.body()
    return Response(ANSWER, media_type="application/json")


@bentoml.service(name="constant_floor", workers=int(os.environ.get("FLOOR_WORKERS", "1")))
@bentoml.asgi_app(app)
class Constant:
    """No model: the HTTP server, BentoML's ASGI stack and the worker processes only."""

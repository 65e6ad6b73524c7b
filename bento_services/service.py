"""One BentoML service for any registered model version: ``ModelService``.

Routes (all JSON):
  POST /predict      rows as records (``[{...}]`` or ``{"records": [...]}``) or columns
                     (``{"columns": {feature: [...]}}``) -> model name, version and one
                     ``{"prediction", "probability_<class>"...}`` record per row.
  POST /invocations  MLflow's scoring protocol (``dataframe_split``, ``dataframe_records``,
                     ``instances``, ``inputs``) -> ``{"predictions": [...]}`` as ``mlflow models
                     serve`` answers; errors as ``{"error_code": "BAD_REQUEST", "message"}``.
  GET  /metadata     name, version, flavor, task, classes, features and MLflow signature.
  /readyz, /livez, /metrics (Prometheus) and /docs.json come from BentoML itself.

Why a FastAPI app mounted with ``@bentoml.asgi_app`` rather than ``@bentoml.api`` methods
(read in bentoml 1.4.40, ``_bentoml_impl/server/app.py``):
- ``@bentoml.api`` turns ``BentoMLException`` subclasses (``InvalidArgument``...) into a 4xx, but
  the body is ``[{"error": "..."}]`` (a one-element list: ``detail = ({"error": str(exc)},)``),
  pydantic errors become 400 with BentoML's own wording, there is no route for a malformed body
  we could word ourselves, and routes are fixed strings: no path parameters.
- A FastAPI app gives exception handlers (our JSON body, our status), the raw body to decode,
  and path parameters, so the Open Inference Protocol (``/v2/models/{name}/infer``) is one more
  route here. BentoML mounts it passively after its own routes, so health and metrics stay.
  Route functions defined on the class get the service instance as ``self`` (BentoML injects
  it with ``Depends(get_current_service)``).
- Adaptive batching exists only for ``@bentoml.api(batchable=True)`` methods called through
  BentoML's endpoint. Inside a running service ``self.<api>`` is a client bound in-process to
  the service's own ASGI app, so a route can ``await self.to_async.<api>(matrix)`` and reach the
  batch dispatcher (checked: six concurrent calls through a FastAPI route with a path
  parameter ran as batches of 1, 3 and 2). The batchable API must take an ndarray, not a
  DataFrame (a pandas batch hangs and returns 504 in 1.4.40, see PLATFORM_NOTES). That and
  ``/v2/models/{name}/infer`` are the seams for later work.
"""

from __future__ import annotations

from typing import Any

import bentoml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bento_services.model import ServedModel, ServeSettings, jsonable_rows
from bento_services.payloads import (
    PayloadError, decode_json, rows_from_mlflow_body, rows_from_predict_body, validate_features,
)
from registry.predictors import PREDICTION

app = FastAPI(title="Modelyard model service", docs_url=None, redoc_url=None)


class MlflowPayloadError(PayloadError):
    """A bad /invocations request, answered in MLflow's error shape."""


@app.exception_handler(PayloadError)
async def _payload_error(_: Request, error: PayloadError) -> JSONResponse:
    if isinstance(error, MlflowPayloadError):
        return JSONResponse({"error_code": "BAD_REQUEST", "message": error.message}, status_code=400)
    return JSONResponse(error.as_json(), status_code=error.status_code)


@bentoml.service(name="modelyard_model", workers=1, traffic={"timeout": 60})
@bentoml.asgi_app(app)
class ModelService:
    """Serves the one model version named by ``MODELYARD_SERVE_*``, loaded once at start."""

    def __init__(self) -> None:
        self.model = ServedModel.load(ServeSettings())

    @app.post("/predict")
    async def predict(self, request: Request) -> dict[str, Any]:
        frame = rows_from_predict_body(decode_json(await request.body()))
        result = await self._predict(frame)
        return {"model_name": self.model.name, "model_version": self.model.version,
                "predictions": jsonable_rows(result)}

    @app.post("/invocations")
    async def invocations(self, request: Request) -> dict[str, Any]:
        try:
            frame = rows_from_mlflow_body(decode_json(await request.body()), self.model.features)
            result = await self._predict(frame)
        except PayloadError as error:
            raise MlflowPayloadError(error.message, error.problems) from error
        return {"predictions": result[PREDICTION].tolist()}

    @app.get("/metadata")
    def metadata(self) -> dict[str, Any]:
        return self.model.metadata()

    async def _predict(self, frame):
        features = validate_features(frame, self.model.features)
        return await run_in_threadpool(self.model.predict, features)

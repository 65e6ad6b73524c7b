"""One BentoML service for any registered model version: ``ModelService``.

Routes (all JSON):
  POST /predict      rows as records (``[{...}]`` or ``{"records": [...]}``) or columns
                     (``{"columns": {feature: [...]}}``) -> model name, version and one
                     ``{"prediction", "probability_<class>"...}`` record per row.
  POST /invocations  MLflow's scoring protocol (``dataframe_split``, ``dataframe_records``,
                     ``instances``, ``inputs``) -> ``{"predictions": [...]}`` as ``mlflow models
                     serve`` answers; errors as ``{"error_code": "BAD_REQUEST", "message"}``.
  GET  /metadata     name, version, flavor, task, classes, features and MLflow signature.
  /v2/...            the Open Inference Protocol (KServe V2): server and model metadata and
                     readiness, ``POST /v2/models/{name}[/versions/{v}]/infer`` with JSON or
                     binary tensors (``bento_services.v2``), so tritonclient works unchanged.
  POST /predict_rows BentoML's own batchable API (rows of floats in feature order).
  /readyz, /livez, /metrics (Prometheus) and /docs.json come from BentoML itself.

Every route reads at most ``MODELYARD_SERVE_MAX_BODY_BYTES`` (413 beyond), validates against the
signature (``payloads.validate_features``), and, when ``MODELYARD_SERVE_REQUEST_LOG_DIR`` is set,
logs features and answers to Parquet (``request_log``).

Why a FastAPI app mounted with ``@bentoml.asgi_app`` rather than ``@bentoml.api`` methods
(read in bentoml 1.4.40, ``_bentoml_impl/server/app.py``):
- ``@bentoml.api`` turns ``BentoMLException`` subclasses (``InvalidArgument``...) into a 4xx, but
  the body is ``[{"error": "..."}]`` (a one-element list: ``detail = ({"error": str(exc)},)``),
  pydantic errors become 400 with BentoML's own wording, there is no route for a malformed body
  we could word ourselves, and routes are fixed strings: no path parameters.
- A FastAPI app gives exception handlers (our JSON body, our status), the raw body to decode,
  and path parameters, so the Open Inference Protocol is a set of routes here. BentoML mounts it
  passively after its own routes, so health and metrics stay. Route functions defined on the
  class get the service instance as ``self`` (BentoML injects it with ``Depends``).

Adaptive batching exists only for ``@bentoml.api(batchable=True)`` methods reached through
BentoML's dispatcher, so the routes validate a request and then, for up to ``BATCH_ROWS`` rows of
an all-numeric model, ``await`` the batchable ``predict_rows`` through BentoML's in-process client
(160 concurrent single-row requests ran as 13 model calls). It takes rows as lists, not an
ndarray or a DataFrame: a pandas batch hangs and returns 504 in 1.4.40 (PLATFORM_NOTES), and
BentoML concatenates ndarrays before any check of ours, so one caller's badly shaped matrix
would fail every request batched with it; lists always concatenate and ``predict_rows`` answers
a bad row with NaNs. Bigger requests are a batch already and go straight to the model.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import bentoml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from bento_services import v2
from bento_services.model import ServedModel, ServeSettings, jsonable_rows
from bento_services.payloads import (
    PayloadError, decode_json, rows_from_mlflow_body, rows_from_predict_body, validate_features,
)
from bento_services.request_log import RequestLog
from registry.predictors import PREDICTION

BATCH_ROWS = 16  # requests up to this many rows share model calls; bigger ones are a batch already
app = FastAPI(title="Modelyard model service", docs_url=None, redoc_url=None)


class MlflowPayloadError(PayloadError):
    """A bad /invocations request, answered in MLflow's error shape."""


@app.exception_handler(PayloadError)
async def _payload_error(_: Request, error: PayloadError) -> JSONResponse:
    if isinstance(error, MlflowPayloadError):
        return JSONResponse({"error_code": "BAD_REQUEST", "message": error.message}, status_code=error.status_code)
    return JSONResponse(error.as_json(), status_code=error.status_code)


@bentoml.service(name="modelyard_model", workers=1, traffic={"timeout": 60})
@bentoml.asgi_app(app)
class ModelService:
    """Serves the one model version named by ``MODELYARD_SERVE_*``, loaded once at start."""

    def __init__(self) -> None:
        self.settings = ServeSettings()
        self.model = ServedModel.load(self.settings)
        folder = self.settings.request_log_dir
        self.request_log = RequestLog(folder, self.model.name, self.model.version,
                                      flush_seconds=self.settings.request_log_flush_seconds) if folder else None

    @bentoml.on_shutdown
    def _flush_request_log(self) -> None:
        if self.request_log:
            self.request_log.close()

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=128, max_latency_ms=30_000)
    def predict_rows(self, rows: list[list[float]]) -> list[list[float]]:
        """Rows of floats in feature order -> rows of outputs; concurrent calls are batched.
        The routes below call it in-process; it is BentoML's own ``POST /predict_rows`` too."""
        return self.model.predict_rows(rows)

    @app.post("/predict")
    async def predict(self, request: Request) -> dict[str, Any]:
        frame = rows_from_predict_body(decode_json(await self._body(request)))
        result = await self._predict(frame, "/predict")
        return {"model_name": self.model.name, "model_version": self.model.version,
                "predictions": jsonable_rows(result)}

    @app.post("/invocations")
    async def invocations(self, request: Request) -> dict[str, Any]:
        try:
            body = decode_json(await self._body(request))
            frame = rows_from_mlflow_body(body, self.model.features)
            result = await self._predict(frame, "/invocations")
        except PayloadError as error:
            status = 413 if error.status_code == 413 else 400  # mlflow models serve answers 400 to any bad input
            raise MlflowPayloadError(error.message, error.problems, status) from error
        return {"predictions": result[PREDICTION].tolist()}

    @app.get("/metadata")
    def metadata(self) -> dict[str, Any]:
        return self.model.metadata()

    # --- the Open Inference Protocol (KServe V2) ---------------------------------------------

    @app.get("/v2")
    def v2_server(self) -> dict[str, Any]:
        return v2.server_metadata(bentoml.__version__)

    @app.get("/v2/health/live")
    def v2_live(self) -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    def v2_ready(self) -> dict[str, bool]:
        return {"ready": True}  # the model loads in __init__: a service that answers is ready

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    def v2_model(self, name: str, version: str | None = None) -> dict[str, Any]:
        self._check_v2_model(name, version)
        outputs = [("prediction", self._prediction_datatype())]
        outputs += [(column, "FP64") for column in self.model.output_columns()[1:]]
        return v2.model_metadata(self.model.name, self.model.version, self.model.predictor.card.flavor,
                                 self.model.features, outputs)

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    def v2_model_ready(self, name: str, version: str | None = None) -> dict[str, Any]:
        self._check_v2_model(name, version)
        return {"name": self.model.name, "ready": True}

    @app.post("/v2/models/{name}/infer")
    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def v2_infer(self, name: str, request: Request, version: str | None = None) -> Response:
        self._check_v2_model(name, version)
        parsed = v2.parse_infer_request(await self._body(request), request.headers.get(v2.HEADER_LENGTH),
                                        self.model.features)
        result = await self._predict(parsed.frame, "/v2/infer")
        body, headers = v2.infer_response(result, parsed, self.model.name, self.model.version)
        media_type = "application/octet-stream" if headers else "application/json"
        return Response(body, media_type=media_type, headers=headers)

    # --- shared steps ------------------------------------------------------------------------

    async def _body(self, request: Request) -> bytes:
        """The request body, refused with 413 as soon as it passes ``max_body_bytes``."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(int(declared), limit)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit)
            chunks.append(chunk)
        return b"".join(chunks)

    async def _predict(self, frame, route: str):
        features = validate_features(frame, self.model.features)
        if self.model.batchable and len(features) <= BATCH_ROWS:
            rows = await self._in_process_client().predict_rows(rows=self.model.rows_for_batch(features))
            result = self.model.from_rows(rows)
        else:
            result = await run_in_threadpool(self.model.predict, features)
        if self.request_log:
            await run_in_threadpool(self.request_log.record, route, features, result)
        return result

    def _in_process_client(self):
        """BentoML's client bound to this service's own ASGI app, the way into its batcher.

        BentoML 1.4.40 closes that client's aiohttp session after every 100 calls or 300 s
        (``SessionManager.max_requests``/``max_age``) while other calls are still in flight on
        it, and they fail with "Server disconnected" (a 500 here, about 1 in 160 concurrent
        calls). The session talks to an in-process ASGI app and holds no sockets to age, so
        it is kept for the process's life."""
        client = self.to_async
        manager = getattr(client, "_session_manager", None)
        if manager is not None and manager.max_requests != sys.maxsize:
            manager.max_requests, manager.max_age = sys.maxsize, math.inf
        return client

    def _check_v2_model(self, name: str, version: str | None) -> None:
        if name != self.model.name or version not in (None, str(self.model.version)):
            asked = name if version is None else f"{name} version {version}"
            raise PayloadError(f"model {asked!r} is not served here; this server serves "
                               f"{self.model.name!r} version {self.model.version}",
                               [{"field": "model", "problem": "not found"}], status_code=404)

    def _prediction_datatype(self) -> str:
        import pandas as pd

        classes = self.model.predictor.card.classes
        sample = pd.Series(classes if classes is not None else [0.0])
        return v2.output_datatype(sample)


def _too_large(size: int, limit: int) -> PayloadError:
    return PayloadError(f"request body of {size:,} bytes or more exceeds the limit of {limit:,} bytes "
                        "(MODELYARD_SERVE_MAX_BODY_BYTES); send fewer rows per request",
                        [{"field": "body", "problem": "too large"}], status_code=413)

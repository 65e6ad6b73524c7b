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
  /readyz, /livez, /metrics (Prometheus) and /docs.json come from BentoML itself.

Every route reads at most ``MODELYARD_SERVE_MAX_BODY_BYTES`` (413 beyond) and validates against the
signature (``payloads.validate_features``). Every answer carries an ``x-request-id`` (the caller's,
e.g. the gateway's, else a new one), and unless ``MODELYARD_SERVE_REQUEST_LOG=false`` the scoring
routes log each scored row and each refused request to Parquet (``request_log``, in the layout of
``registry.request_logs``).

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

Start-up: ``bentoml serve`` imports this module twice, once in its arbiter (for the service's
configuration) and once in the worker, one after the other; so the module itself imports only
BentoML and FastAPI, and the routes import the rest (numpy, pandas, the model's code) when the
worker first needs them: a replica (or its replacement) answers seconds sooner.

Concurrent requests share model calls through ``batching.MicroBatcher`` (160 concurrent
single-row requests ran as a handful of calls); the Prometheus histogram
``modelyard_model_call_rows`` shows the batch sizes. ``batching`` says why BentoML's own
batchable APIs are not used for this.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from typing import Any

import bentoml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from bento_services.payload_error import PayloadError
from bento_services.timeout import install as install_request_timeout

logger = logging.getLogger("bentoml.modelyard")  # BentoML's handlers write its children to the server's log
MAX_BATCH_ROWS = 256  # rows one model call scores at most (a bigger request is scored alone)
install_request_timeout()  # before BentoML builds the app around this service

app = FastAPI(title="Modelyard model service", docs_url=None, redoc_url=None)


class MlflowPayloadError(PayloadError):
    """A bad /invocations request, answered in MLflow's error shape."""


class RequestIds:
    """Pure ASGI middleware: the request's id (``x-request-id`` given, else a new one) on its answer;
    on the scoring routes, its arrival, status and latency for the request log, which gets one row
    for it here unless its predictions were logged with the model call. A gateway's copy
    (``x-modelyard-shadow: 1``) is logged as shadow: no client saw its answer."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from bento_services.request_log import RequestMeta, new_request_id

        given, shadow = b"", False
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                given = value
            elif key == b"x-modelyard-shadow":
                shadow = value == b"1"
        request_id = given.decode("latin-1")[:200] or new_request_id()
        meta = RequestMeta(request_id, _logged_route(scope["path"]), time.time_ns(), time.perf_counter(),
                           shadow=shadow)
        scope.setdefault("state", {})["request_meta"] = meta

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode("latin-1"))]
                meta.finish(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            meta.status, meta.error = 500, f"{type(error).__name__}: {error}"[:1000]
            raise
        finally:
            meta.done = True
            log = getattr(app.state, "request_log", None)
            if log is not None and meta.route is not None and not meta.logged:
                if meta.latency_ms is None and meta.error is None:  # no answer sent: the client went away
                    meta.status, meta.error = 499, "the client closed the connection before the answer"
                    meta.latency_ms = (time.perf_counter() - meta.started) * 1000.0
                log.refused(meta)


def _logged_route(path: str) -> str | None:
    """The scoring route's name in the log; None for the others (metadata, health, docs)."""
    if path in ("/predict", "/invocations"):
        return path
    if path.startswith("/v2/models/") and path.endswith("/infer"):
        return "/v2/infer"
    return None


app.add_middleware(RequestIds)

SETTLE_CALLS = 256  # model calls after which what the first requests loaded is frozen too


def _freeze_loaded() -> None:
    """Everything loaded so far (MLflow, pandas, the model) lives as long as the process: out of
    the collector's sight, a full collection no longer stops every request in flight for ~250 ms
    (c=32 p99 307 -> 86 ms, 539 -> 739 req/s on the benchmark's RandomForest). Done at start,
    and again after the first ``SETTLE_CALLS`` model calls, for the modules and caches the
    request path loads lazily."""
    gc.collect()
    gc.freeze()


@app.exception_handler(PayloadError)
async def _payload_error(request: Request, error: PayloadError) -> JSONResponse:
    meta = getattr(request.state, "request_meta", None)
    if meta is not None:
        meta.error = error.message[:1000]
    if isinstance(error, MlflowPayloadError):
        return JSONResponse({"error_code": "BAD_REQUEST", "message": error.message}, status_code=error.status_code)
    return JSONResponse(error.as_json(), status_code=error.status_code)


def _tracing() -> dict[str, Any]:
    """BentoML's tracing configuration: its own unless ``MODELYARD_SERVE_TRACING`` is off (the
    default), then every URL is excluded from its OpenTelemetry middleware. BentoML makes a server
    span and three more per request even at its default sample rate of 0, which drops them all:
    that was two thirds of the CPU its ASGI stack spends on a request (361 -> 118 us measured
    in-process, ``benchmarks/asgi_stack.py``)."""
    from pydantic import TypeAdapter

    if TypeAdapter(bool).validate_python(os.environ.get("MODELYARD_SERVE_TRACING", "false")):
        return {}
    return {"excluded_urls": ["."]}  # patterns searched in the URL: this one matches them all


@bentoml.service(name="modelyard_model", workers=1, traffic={"timeout": 60}, tracing=_tracing())
@bentoml.asgi_app(app)
class ModelService:
    """Serves the one model version named by ``MODELYARD_SERVE_*``, loaded once at start."""

    def __init__(self) -> None:
        from bento_services.model import ServedModel, ServeSettings
        from registry.frames import python_string_storage

        python_string_storage()  # requests are decoded on threads of this one process
        self.settings = ServeSettings()
        self.model = self.request_log = self.batcher = None
        self.call_rows = _call_rows_histogram()
        self._calls = 0
        app.state.service = self  # the scoring routes' (below the class)
        started = time.perf_counter()
        if self.settings.spare:
            from bento_services.warm_load import warm_imports

            warm_imports()
            logger.info("a spare server, warm in %.1f s: it serves nothing until a deploy loads a version",
                        time.perf_counter() - started)
        else:
            self._serve(ServedModel.load(self.settings))
            logger.info("serving %s version %s, loaded from %s in %.1f s", self.model.name, self.model.version,
                        self.model.loaded_from, time.perf_counter() - started)
        _freeze_loaded()

    def _serve(self, model) -> None:
        """Serve ``model`` from now on: its request log and its batcher."""
        from bento_services.batching import MicroBatcher

        self.model = model
        self.request_log = self._open_request_log()
        app.state.request_log = self.request_log  # the middleware's, for refused requests
        self.batcher = MicroBatcher(self._predict_observed, MAX_BATCH_ROWS,
                                    on_scored=self.request_log.scored if self.request_log else None)

    def _open_request_log(self):
        """The replica's log where the platform's settings put it (``registry.request_logs``)."""
        from bento_services.request_log import RequestLog
        from registry.request_logs import INPUT_PREFIX, OUTPUT_PREFIX, filesystem, log_root
        from registry.settings import Settings

        platform = Settings()
        if not platform.serve_request_log:
            return None
        root = log_root(platform)
        fs, _ = filesystem(root, platform)
        logger.info("logging requests to %s every %.0f s", root, self.settings.request_log_flush_seconds)
        columns = [f"{INPUT_PREFIX}{feature.name}" for feature in self.model.features]
        columns += [f"{OUTPUT_PREFIX}{column}" for column in self.model.output_columns()]
        strings = {f"{INPUT_PREFIX}{feature.name}" for feature in self.model.features if feature.type == "string"}
        if any(isinstance(label, str) for label in self.model.predictor.card.classes or []):
            strings.add(f"{OUTPUT_PREFIX}prediction")
        return RequestLog(root, self.model.name, self.model.version, self.settings.replica or str(os.getpid()), fs,
                          columns, strings,
                          flush_seconds=self.settings.request_log_flush_seconds,
                          flush_rows=self.settings.request_log_flush_rows).start()

    @bentoml.on_shutdown
    def _flush_request_log(self) -> None:
        if self.request_log:
            written = self.request_log.close()
            logger.info("request log flushed at shutdown: %d file(s)", len(written))

    # The three scoring routes share one path: JSON -> a float matrix (``features_from_records``, or
    # V2's tensors) -> the batcher -> the predictor -> plain lists -> JSON, without a DataFrame; a
    # body of other types or with a problem takes the frame path that names every bad field. The
    # answer is a JSONResponse so FastAPI does not walk it again (``jsonable_encoder``).

    async def predict(self, request: Request) -> JSONResponse:
        from bento_services.payloads import decode_json, features_from_records, rows_from_predict_body, validate_features

        value = decode_json(await self._body(request))
        records = value.get("records") if isinstance(value, dict) and set(value) == {"records"} else value
        features = features_from_records(records, self.model.features)
        if features is None:
            features = validate_features(rows_from_predict_body(value), self.model.features)
        result = await self._score(features, request)
        return JSONResponse({"model_name": self.model.name, "model_version": self.model.version,
                             "predictions": result.records()})

    async def invocations(self, request: Request) -> JSONResponse:
        from bento_services.payloads import decode_json, features_from_records, rows_from_mlflow_body, validate_features

        try:
            body = decode_json(await self._body(request))
            records = next((body[key] for key in ("dataframe_records", "instances")
                            if isinstance(body, dict) and set(body) == {key}), None)
            features = features_from_records(records, self.model.features)
            if features is None:
                features = validate_features(rows_from_mlflow_body(body, self.model.features), self.model.features)
            result = await self._score(features, request)
        except PayloadError as error:
            status = 413 if error.status_code == 413 else 400  # mlflow models serve answers 400 to any bad input
            raise MlflowPayloadError(error.message, error.problems, status) from error
        return JSONResponse({"predictions": result.labels_list()})

    @app.get("/metadata")
    def metadata(self) -> dict[str, Any]:
        return _loaded().model.metadata()

    # --- a spare's routes (bento_services.spares): what it serves, load a version, move an alias ---

    @app.get("/-/spare")
    def spare_state(self) -> dict[str, Any]:
        model = self.model
        return {"spare": model is None, "model_name": model.name if model else None,
                "model_version": model.version if model else None}

    @app.post("/-/load")
    def load_version(self, load: dict[str, Any], request: Request) -> Any:
        """Load a version into this spare (``bento_services.warm_load``) and serve it; the ``Build``."""
        from bento_services.warm_load import LoadRequest, load_version

        self._check_admin(request)
        with _loading:
            if self.model is not None:
                raise PayloadError(f"this server already serves {self.model.name!r} version {self.model.version}",
                                   [{"field": "server", "problem": "not a spare"}], status_code=409)
            started = time.perf_counter()
            try:
                built, served = load_version(LoadRequest.model_validate(load))
            except Exception as error:
                logger.exception("loading %s failed", load.get("ref"))
                return JSONResponse({"error": str(error)[:4000], "kind": getattr(error, "kind", type(error).__name__),
                                     "version": getattr(error, "version", None)}, status_code=422)
            self._serve(served)
            _freeze_loaded()
        logger.info("serving %s version %s, loaded into this spare in %.1f s", served.name, served.version,
                    time.perf_counter() - started)
        return {"build": built.model_dump(mode="json"), "seconds": time.perf_counter() - started}

    @app.post("/-/alias")
    def move_alias(self, body: dict[str, Any], request: Request) -> dict[str, Any]:
        """Move a registry alias for the deploy that swapped this server in: MLflow is imported here."""
        from bento_services.warm_load import AliasRequest
        from registry.catalog import move_alias
        from registry.settings import Settings

        self._check_admin(request)
        alias = AliasRequest.model_validate(body)
        settings = Settings()
        move_alias(alias.ref, alias.alias, settings, actor=alias.actor or settings.user)
        return {"ref": alias.ref, "alias": alias.alias}

    def _check_admin(self, request: Request) -> None:
        import hmac

        from bento_services.warm_load import ADMIN_HEADER

        token, given = self.settings.admin_token, request.headers.get(ADMIN_HEADER, "")
        if not token or not hmac.compare_digest(token.encode(), given.encode()):
            raise PayloadError("this route needs the server's admin token", [{"field": ADMIN_HEADER,
                                                                               "problem": "missing or wrong"}],
                               status_code=403)

    # --- the Open Inference Protocol (KServe V2) ---------------------------------------------

    @app.get("/v2")
    def v2_server(self) -> dict[str, Any]:
        from bento_services import v2

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
        from bento_services import v2

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

    async def v2_infer(self, name: str, request: Request, version: str | None = None) -> Response:
        from bento_services import v2
        from bento_services.payloads import validate_features
        from bento_services.rows import Matrix

        self._check_v2_model(name, version)
        parsed = v2.parse_infer_request(await self._body(request), request.headers.get(v2.HEADER_LENGTH),
                                        self.model.features)
        features = parsed.features if isinstance(parsed.features, Matrix) else \
            validate_features(parsed.features, self.model.features)
        result = await self._score(features, request)
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

    async def _score(self, features, request: Request):
        """Validated features -> predictions, through the batcher (which logs them with the model
        call); a model error names itself."""
        try:
            return await self.batcher.submit(features, getattr(request.state, "request_meta", None))
        except (ValueError, TypeError) as error:  # the model refused these values
            raise PayloadError(f"the model could not score this input: {type(error).__name__}: {error}"[:1000],
                               [{"field": "body", "problem": "model error"}], status_code=422) from error

    def _predict_observed(self, features):
        result = self.model.score(features)
        self.call_rows.observe(len(features))
        self._calls += 1
        if self._calls == SETTLE_CALLS:
            _freeze_loaded()
        return result

    def _check_v2_model(self, name: str, version: str | None) -> None:
        _loaded()
        if name != self.model.name or version not in (None, str(self.model.version)):
            asked = name if version is None else f"{name} version {version}"
            raise PayloadError(f"model {asked!r} is not served here; this server serves "
                               f"{self.model.name!r} version {self.model.version}",
                               [{"field": "model", "problem": "not found"}], status_code=404)

    def _prediction_datatype(self) -> str:
        import pandas as pd

        from bento_services import v2

        classes = self.model.predictor.card.classes
        sample = pd.Series(classes if classes is not None else [0.0])
        return v2.output_datatype(sample)


# The scoring routes are module functions that reach the service through ``app.state``, not class
# views: BentoML binds a class view's ``self`` with a FastAPI dependency, which FastAPI runs in a
# thread for every request (profiled: dependency solving with its thread hand-offs was about a
# tenth of a compiled model's request CPU). The other routes are not on the hot path and stay methods.

@app.post("/predict")
async def predict(request: Request) -> JSONResponse:
    return await _loaded().predict(request)


@app.post("/invocations")
async def invocations(request: Request) -> JSONResponse:
    return await _loaded().invocations(request)


@app.post("/v2/models/{name}/infer")
@app.post("/v2/models/{name}/versions/{version}/infer")
async def v2_infer(name: str, request: Request, version: str | None = None) -> Response:
    return await _loaded().v2_infer(name, request, version)


_loading = threading.Lock()  # one load at a time into a spare


def _loaded() -> ModelService:
    """The service, once it serves a model; a spare answers 503 until a deploy loads one."""
    service = app.state.service
    if service.model is None:
        raise PayloadError("this server is a spare: it serves no model until a deploy loads a version",
                           [{"field": "model", "problem": "not loaded"}], status_code=503)
    return service


def _call_rows_histogram():
    """Rows per model call, in BentoML's /metrics (created after BentoML sets up Prometheus)."""
    import prometheus_client

    return prometheus_client.Histogram("modelyard_model_call_rows", "Rows scored per model call (batch size)",
                                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024))


def _too_large(size: int, limit: int) -> PayloadError:
    return PayloadError(f"request body of {size:,} bytes or more exceeds the limit of {limit:,} bytes "
                        "(MODELYARD_SERVE_MAX_BODY_BYTES); send fewer rows per request",
                        [{"field": "body", "problem": "too large"}], status_code=413)

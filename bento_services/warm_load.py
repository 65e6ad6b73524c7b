"""A spare server's side of a warm swap: load a version into this already-started process.

A spare (``bento_services.spares``) is ``ModelService`` started with ``MODELYARD_SERVE_SPARE``: it
imports what loading and serving a model needs (``warm_imports``) and serves nothing. A deploy
then asks it to ``load`` a version: the first spare of a swap prepares it as a build would
(resolve, download, load, choose the runtime, snapshot, answer the input example), the others
load the snapshot that one wrote. The answer is the ``Build`` the deploy records.
"""

from __future__ import annotations

import logging
import time

from pydantic import BaseModel

from infra.errors import ModelyardError
from registry.runtimes import RuntimeRequest

logger = logging.getLogger("bentoml.modelyard")
ADMIN_HEADER = "x-modelyard-admin-token"


class LoadRequest(BaseModel):
    """``ref``: the version to serve. ``prepare``: resolve and build it here (the first spare of a
    swap); otherwise ``ref`` names one exact version whose folder a build or a spare prepared."""

    ref: str
    prepare: bool = True
    runtime: RuntimeRequest = "auto"
    actor: str | None = None


class LoadFailed(Exception):
    """A load that failed; ``version`` is the one it resolved to (None: it failed before knowing)."""

    def __init__(self, error: BaseException, version: int | None):
        self.kind, self.version = type(error).__name__, version
        super().__init__(str(error) if isinstance(error, (ModelyardError, RuntimeError)) else
                         f"{type(error).__name__}: {error}")


class AliasRequest(BaseModel):
    """Move ``alias`` to ``ref``: the registry write of a swap, done where MLflow is imported."""

    ref: str
    alias: str
    actor: str | None = None


def warm_imports() -> float:
    """Import what a load and its first requests use (MLflow's loaders and client, the model
    libraries, the compilers, numpy and pandas), so a load pays none of it; the seconds spent."""
    started = time.perf_counter()
    import mlflow.pyfunc  # noqa: F401
    import mlflow.sklearn  # noqa: F401
    import pandas  # noqa: F401
    import sklearn.ensemble  # noqa: F401

    import bento_services.batching  # noqa: F401
    import bento_services.payloads  # noqa: F401
    import bento_services.request_log  # noqa: F401
    import bento_services.steps  # noqa: F401
    import registry.catalog  # noqa: F401
    import registry.compiling  # noqa: F401
    import registry.store  # noqa: F401

    for optional in ("skops.io", "onnxruntime", "skl2onnx"):  # the scikit-learn flavor's loader and compiler
        try:
            __import__(optional)
        except ImportError:
            pass
    return time.perf_counter() - started


def load_version(request: LoadRequest):
    """The ``ServedModel`` to serve and the ``Build`` that describes it (its parity case and
    runtime choice, made now or kept from when the version was prepared)."""
    from bento_services.model import ServedModel, ServeSettings
    from bento_services.parity import reference_case, saved_case, saved_runtime
    from bento_services.servers import version_dir
    from bento_services.snapshot import snapshot_in
    from bento_services.steps import Build, DeployContext, prepare, resolve
    from registry.refs import ModelRef, parse_ref
    from registry.settings import Settings

    settings = Settings()
    if request.prepare:
        ctx = DeployContext(settings=settings, actor=request.actor or settings.user, runtime=request.runtime)
        try:
            version = resolve(parse_ref(request.ref), ctx)
        except Exception as error:
            raise LoadFailed(error, None) from error
        try:
            return prepare(str(ModelRef(parse_ref(request.ref).name, version)), ctx)
        except Exception as error:
            raise LoadFailed(error, version) from error
    ref = parse_ref(request.ref)
    if ref.version is None:
        raise ValueError(f"{request.ref!r} names no version: a load without prepare needs NAME/VERSION")
    folder = version_dir(settings, ref.name, int(ref.version))
    model_dir = folder / "model"
    if not (model_dir / "MLmodel").exists():
        raise FileNotFoundError(f"version {ref.version} of {ref.name!r} was never prepared here ({model_dir})")
    served = ServedModel.load(ServeSettings(model_dir=model_dir, snapshot=snapshot_in(folder),
                                            model_name=ref.name, model_version=int(ref.version)))
    built = Build(model_name=ref.name, model_version=int(ref.version), bento_tag="", model_dir=str(model_dir),
                  parity=saved_case(folder) or reference_case(model_dir), runtime=saved_runtime(folder))
    return built, served



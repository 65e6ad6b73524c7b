"""Drive a batch run from inside the warm Dask cluster instead of from the calling process.

A process that scores on the platform's long-lived cluster (``modelyard score``, an Airflow
task) would otherwise import MLflow, scikit-learn, Great Expectations and dask.dataframe and
load the model again: seconds of fixed cost per run. The cluster's workers hold all of that
already. Here the caller imports only Dask's client and names the function; the run's driver
(resolve, plan, map the partitions, commit, record) runs as a task on a worker, seceded from
its thread pool so that worker scores partitions too, and its typed result (or its error)
comes back. Progress travels through a Dask Variable.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

Progress = Callable[[int, int], None]
POLL_SECONDS = 0.25


def call_on_cluster(address: str, target: str, *args: Any, progress: Progress | None = None, **kwargs: Any) -> Any:
    """``module:function(*args, **kwargs)`` run on a worker of the cluster at ``address``; a
    function that takes ``client`` gets one to that cluster, and ``progress`` its counts."""
    from distributed import Client, Variable, wait

    topic = f"modelyard-progress-{secrets.token_hex(6)}" if progress else None
    with Client(address, timeout="30s") as client:
        future = client.submit(_drive, target, args, kwargs, topic, pure=False)
        if topic:
            shown = Variable(topic, client=client)
            while future.status == "pending":
                try:
                    wait(future, timeout=POLL_SECONDS)
                except TimeoutError:
                    pass
                _show(shown, progress)
            _show(shown, progress)
        try:
            return future.result()
        finally:
            if topic:
                shown.delete()


def _show(shown, progress: Progress) -> None:
    try:
        done, total = shown.get(timeout=0.01)
    except TimeoutError:
        return
    progress(done, total)


def _imported(target: str) -> Callable[..., Any]:
    """The function ``module:name`` names, imported only when it is called."""
    import importlib

    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def _drive(target: str, args: tuple, kwargs: dict, topic: str | None) -> Any:
    """On a worker: import the function and call it, with a client of its own and progress."""
    import inspect

    from distributed import Variable, worker_client

    function = _imported(target)
    if "client" not in inspect.signature(function).parameters:
        return function(*args, **kwargs)
    with worker_client(separate_thread=True) as client:
        if topic:
            shown = Variable(topic, client=client)
            kwargs["progress"] = lambda done, total: shown.set([done, total])
        return function(*args, client=client, **kwargs)


# --- the fronts' entry points: on the configured warm cluster when there is one ---------------

def _run(target: str, *args: Any, settings=None, client=None, **kwargs: Any) -> Any:
    """``target`` driven inside the configured scheduler's cluster, unless the caller brings a
    client (it is then the driver itself, e.g. on a worker) or none is configured; else here."""
    from registry.settings import get_settings

    settings = settings or get_settings()
    if settings.dask_scheduler and client is None:
        return call_on_cluster(settings.dask_scheduler, target, *args, settings=settings, **kwargs)
    with_client = {"client": client} if client is not None else {}
    return _imported(target)(*args, settings=settings, **with_client, **kwargs)


def score_batch(request, model=None, *, settings=None, client=None, progress: Progress | None = None):
    """Score the input into the output folder, or fail with nothing committed
    (``pipelines.scoring.batch.score_batch``, driven inside the warm cluster when configured)."""
    return _run("pipelines.scoring.batch:score_batch", request, model, settings=settings, client=client,
                progress=progress)


def validate_input(request, model=None, *, settings=None, client=None, progress: Progress | None = None):
    """A validation-only pass (``pipelines.scoring.batch.validate_input``), driven inside the
    warm cluster when configured."""
    return _run("pipelines.scoring.batch:validate_input", request, model, settings=settings, client=client,
                progress=progress)


def resolve_model(ref: str, settings=None):
    """Pin ``ref`` to one version (``pipelines.scoring.batch.resolve_model``), on a warm worker
    when a cluster is configured: it has MLflow imported already."""
    return _run("pipelines.scoring.batch:resolve_model", ref, settings=settings)


def log_to_mlflow(result, settings=None) -> str:
    """Log a run's figures to MLflow (``pipelines.scoring.mlflow_run.log_to_mlflow``), on a warm worker
    when a cluster is configured."""
    return _run("pipelines.scoring.mlflow_run:log_to_mlflow", result, settings=settings)

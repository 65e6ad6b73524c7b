"""Which Dask cluster a run uses: the configured scheduler, else a local one for this run; and
the commands that start a scheduler and workers of one's own, on loopback unless told otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from infra.processes import SCRIPTS


@contextmanager
def dask_client(address: str | None = None, *, workers: int = 2, processes: bool = True) -> Iterator:
    """A client to ``address``; without one, a loopback LocalCluster that lives for the block.

    Local workers are forked, not spawned: they inherit the driver's imported libraries
    (MLflow, scikit-learn and Great Expectations cost seconds each to import), and spawned
    workers re-import Airflow and fail inside a scheduled Airflow task (PLATFORM_NOTES).
    """
    import dask
    from distributed import Client, LocalCluster

    if address:
        with Client(address) as client:
            yield client
        return
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}), LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=processes, host="127.0.0.1",
        dashboard_address=None, silence_logs=40,
    ) as cluster, Client(cluster) as client:
        yield client


def scheduler_command(port: int, *, host: str = "127.0.0.1", dashboard_port: int = 0) -> list[str]:
    """``dask scheduler`` listening on ``host`` only.

    Its HTTP server (dashboard, health, metrics) takes ``--dashboard-address``, whose default
    is ``0.0.0.0:8787`` even with ``--no-dashboard`` and ``--host`` (PLATFORM_NOTES), so it is
    always given on ``host``; ``dashboard_port`` 0 picks a free one.
    """
    return [str(SCRIPTS / "dask"), "scheduler", "--host", host, "--port", str(port),
            "--dashboard-address", f"{host}:{dashboard_port}"]


def worker_command(scheduler: str, *, host: str = "127.0.0.1", nworkers: int = 2, nthreads: int = 1,
                   memory_limit: str = "4GB") -> list[str]:
    """``dask worker`` processes (each with its nanny) that listen on ``host`` only, their HTTP
    servers included (the default puts those on a random ``0.0.0.0`` port)."""
    return [str(SCRIPTS / "dask"), "worker", scheduler, "--host", host, "--dashboard-address", f"{host}:0",
            "--nworkers", str(nworkers), "--nthreads", str(nthreads), "--memory-limit", memory_limit]

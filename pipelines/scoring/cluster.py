"""Which Dask cluster a run uses: the configured scheduler, else a local one for this run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


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

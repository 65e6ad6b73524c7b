"""Each model server keeps its own Prometheus files: two real ``bentoml serve`` processes sharing
one Bento store, as every replica and spare of a platform does. BentoML empties the store's one
metrics folder whenever a server starts, which used to wipe the running servers' counts."""

from __future__ import annotations

import secrets

import httpx

from bento_services.servers import metrics_dir, serve_spare, stop_server, wait_ready
from infra.processes import children
from registry.settings import Settings
from tests.servers import free_port


def _spare_requests(url: str) -> float:
    """``bentoml_service_request_total`` of the spare's own route in this server's ``/metrics``."""
    lines = [line for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines()
             if line.startswith("bentoml_service_request_total") and 'endpoint="/-/spare"' in line]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


def test_a_server_started_beside_another_leaves_its_counts_alone(tmp_path):
    settings = Settings(home=tmp_path / "home", dask_scheduler=None)
    started = []
    try:
        first_port = free_port()
        started.append(serve_spare("m", first_port, secrets.token_hex(8), settings))
        first = f"http://127.0.0.1:{first_port}"
        wait_ready(started[0], first)
        for _ in range(5):
            assert httpx.get(f"{first}/-/spare", timeout=10).status_code == 200
        assert _spare_requests(first) == 5

        second_port = free_port()
        started.append(serve_spare("m", second_port, secrets.token_hex(8), settings))
        second = f"http://127.0.0.1:{second_port}"
        wait_ready(started[1], second)
        assert _spare_requests(first) == 5  # the second start did not empty the first's folder
        assert _spare_requests(second) == 0  # nor does it report the first's requests
        assert metrics_dir(settings, "m", first_port) != metrics_dir(settings, "m", second_port)
        assert any(metrics_dir(settings, "m", first_port).iterdir())
    finally:
        stop_server([process for leader in started for process in (leader, *children(leader))])

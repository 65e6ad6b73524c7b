"""Fixtures of the monitoring tests (imported by their conftest and by tests/dags, tests/cli):
a trained classifier in its own home, and a webhook receiver on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from registry.settings import Settings


@pytest.fixture(scope="module")
def monitored(tmp_path_factory) -> Settings:
    """A home with breast_cancer_classifier/1 registered (with its training and prediction profiles)."""
    from pipelines.training import DEMO_MODELS, train_demo_model

    settings = Settings(home=tmp_path_factory.mktemp("monitoring"))
    train_demo_model(DEMO_MODELS["breast_cancer_classifier"], settings)
    return settings


@pytest.fixture
def webhook():
    """A Slack-like receiver on 127.0.0.1: every POSTed JSON body lands in the list."""
    received: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()

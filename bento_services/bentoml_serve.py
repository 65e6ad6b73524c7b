"""``bentoml serve`` with the server's own Prometheus folder: ``python -m bento_services.bentoml_serve
<bentoml serve's arguments>``.

BentoML keeps its workers' Prometheus files in ``$BENTOML_HOME/prometheus_multiproc_dir`` and empties
that folder whenever a server starts (``bentoml.serving.ensure_prometheus_dir``). Every replica and
spare of every model shares the platform's one Bento store, so each start deleted the files of the
servers already running: their ``/metrics`` lost every count, and a server's ``/metrics`` summed
whatever the others wrote since. With ``MODELYARD_SERVE_METRICS_DIR`` set, the server uses that
folder instead; the rest is ``bentoml serve`` unchanged.
"""

from __future__ import annotations

import os
import sys

METRICS_DIR_VARIABLE = "MODELYARD_SERVE_METRICS_DIR"


def main() -> None:
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml_cli.cli import cli

    folder = os.environ.get(METRICS_DIR_VARIABLE)
    if folder:
        BentoMLContainer.prometheus_multiproc_dir.set(folder)  # its workers get it as PROMETHEUS_MULTIPROC_DIR
    cli(["serve", *sys.argv[1:]], prog_name="bentoml")


if __name__ == "__main__":
    main()

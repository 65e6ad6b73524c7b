"""Monitoring from the command line: ``monitor NAME`` (the overview, a pass first with ``--now``,
thresholds with ``--set``) and ``labels add``. ``cli.main`` registers them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.common import JsonOption, handles_errors
from cli.output import show

labels = typer.Typer(no_args_is_help=True, help="Labels (real outcomes) of answered requests.")


def parse_settings(pairs: list[str], current: dict) -> dict:
    """``psi=0.3``, ``webhook_url=https://...``, ``latency_p99_ms=null``, ``metric_floors.accuracy=0.9``."""
    from registry.errors import InvalidFieldError

    changes: dict = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidFieldError(f"threshold {pair!r}: expected NAME=VALUE", field="thresholds")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        field, _, sub = key.strip().partition(".")
        if sub:
            changes[field] = {**changes.get(field, current.get(field, {})), sub: value}
        else:
            changes[field] = value
    return changes


@handles_errors
def monitor(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    now: Annotated[bool, typer.Option("--now", help="First run a monitoring pass over the window since the last one.")] = False,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Change a threshold: psi=0.3, drifted_share=0.5, error_rate=0.02, latency_p99_ms=500, "
                      "metric_floors.accuracy=0.9, webhook_url=https://... (repeatable).")] = None,
    windows: Annotated[int, typer.Option(help="How many recent windows the tables show.")] = 12,
    as_json: JsonOption = False,
):
    """A deployed model's monitoring: windows, traffic, drift per feature, alerts and thresholds."""
    from cli.output import monitoring_view
    from pipelines.monitoring.overview import monitoring_overview
    from registry.monitoring import set_thresholds, thresholds_for
    from registry.settings import get_settings
    from registry.store import mlflow_client, require_registered

    settings = get_settings()
    require_registered(mlflow_client(settings), name)  # not "no records yet" for a typo, nor its thresholds saved
    if set_:
        current = thresholds_for(settings, name).model_dump(mode="json")
        set_thresholds(settings, name, parse_settings(set_, current), actor=settings.user)
    if now:
        from pipelines.monitoring.monitor import monitor_model

        monitor_model(settings, name, actor=settings.user)
    show(monitoring_overview(settings, name), as_json, lambda overview: monitoring_view(overview, windows=windows))


@labels.command("add")
@handles_errors
def labels_add(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    file: Annotated[Path, typer.Option("--file", "-f", help="Parquet or CSV with request_id, label (and row).")],
    as_json: JsonOption = False,
):
    """Add labels for answered requests; the next monitoring pass computes the metrics of the
    windows they were answered in."""
    from pipelines.monitoring.labels import add_labels, read_labels_file
    from registry.errors import InvalidFieldError
    from registry.settings import get_settings

    settings = get_settings()
    if not str(file).startswith("s3://") and not Path(file).is_file():
        raise InvalidFieldError(f"labels file {file} does not exist", field="file")
    added = add_labels(settings, name, read_labels_file(str(file), settings), actor=settings.user)
    show(added, as_json, lambda added: f"added {added.labels} labels for {name}; the next monitoring pass uses them")

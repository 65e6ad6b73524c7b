"""Formatting typed results for a terminal; the only place that knows about rich."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

console = Console()
if not console.is_terminal:  # logs and pipes: do not squeeze tables to 80 columns
    console.width = 200
errors = Console(stderr=True)


def _metric(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def models_table(models) -> Table:
    table = Table(title="Models", title_justify="left")
    for column in ("name", "latest", "aliases", "flavor", "task", "origin", "key metric", "created"):
        table.add_column(column, justify="right" if column == "latest" else "left")
    for model in models:
        aliases = ", ".join(f"{alias}->{version}" for alias, version in sorted(model.aliases.items()))
        metric = f"{model.key_metric.removeprefix('validation_')} {_metric(model.key_metric_value)}" if model.key_metric else ""
        table.add_row(
            model.name, str(model.latest_version or ""), aliases, model.flavor or "", model.task or "",
            model.origin or "", metric, model.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    return table


def version_panel(detail) -> list:
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    for label, value in (
        ("model", detail.ref), ("aliases", ", ".join(detail.aliases) or "none"),
        ("flavor", detail.flavor), ("task", detail.task + (f" {detail.classes}" if detail.classes else "")),
        ("origin", detail.origin), ("source", detail.source or ""), ("owner", detail.owner or ""),
        ("created", detail.created_at.strftime("%Y-%m-%d %H:%M UTC")), ("uri", detail.model_uri),
        ("artifacts", detail.artifact_uri), ("run", detail.run_id or ""), ("description", detail.description or ""),
    ):
        header.add_row(label, value)
    metrics = Table(title="Metrics", title_justify="left")
    metrics.add_column("metric")
    metrics.add_column("training", justify="right")
    metrics.add_column("validation", justify="right")
    for name in dict.fromkeys([*detail.training_metrics, *detail.validation_metrics]):
        metrics.add_row(name, _metric(detail.training_metrics.get(name)), _metric(detail.validation_metrics.get(name)))
    params = Table(title="Parameters", title_justify="left")
    params.add_column("name")
    params.add_column("value")
    for key, value in sorted(detail.params.items()):
        params.add_row(key, value)
    signature = Table(title="Signature", title_justify="left")
    signature.add_column("input")
    signature.add_column("type")
    for column in detail.inputs:
        signature.add_row(column["name"] or "", column["type"] or "")
    events = Table(title="Events", title_justify="left")
    for column in ("when", "who", "action", "version"):
        events.add_column(column)
    for event in detail.events:
        events.add_row(event.created_at.strftime("%Y-%m-%d %H:%M:%S"), event.actor, event.action, str(event.model_version or ""))
    return [header, metrics, params, signature, events]

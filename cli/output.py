"""Formatting typed results for a terminal; the only place that knows about rich."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, TypeVar

from rich.console import Console
from rich.table import Table

Result = TypeVar("Result")

console = Console()
if not console.is_terminal:  # logs and pipes: do not squeeze tables to 80 columns
    console.width = 200
errors = Console(stderr=True)


def show(result: Result, as_json: bool, render: Callable[[Result], Any]) -> None:
    """A command's typed result: JSON with ``--json``, else what ``render`` makes of it (one
    renderable or a list, printed in turn; a renderer that needs print options prints itself)."""
    if as_json:
        print_json(result)
        return
    parts = render(result)
    if parts is None:  # the renderer printed it
        return
    for part in parts if isinstance(parts, list) else [parts]:
        console.print(part)


def print_json(value) -> None:
    """A pydantic model as pydantic writes it; anything else (a list of models or dataclasses, a
    dict, None) through ``json``."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        print(value.model_dump_json(indent=2))
    else:
        print(json.dumps(_jsonable(value), indent=2, default=str))


def _jsonable(value):
    from pydantic import BaseModel

    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


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


def _scored_by(result) -> str:
    choice = result.runtime_choice
    return choice.summary if choice is not None and choice.runtime == result.runtime else result.runtime


def scoring_summary(result) -> list:
    totals = Table.grid(padding=(0, 2))
    totals.add_column(style="bold")
    totals.add_column()
    for label, value in (
        ("run", result.run_id), ("model", f"{result.model_name}/{result.model_version}"),
        ("rows in", f"{result.rows_in:,}"), ("rows scored", f"{result.rows_scored:,}"),
        ("rows rejected", f"{result.rows_rejected:,}"),
        ("duration", f"{result.duration_s:.1f} s ({result.rows_per_s:,.0f} rows/s)"),
        ("scored by", _scored_by(result)), ("output", result.output_path), ("rejects", result.rejects_path or "none"),
    ):
        totals.add_row(label, value)
    parts = [totals]
    if result.validation.failures:
        failures = Table(title="Validation failures (rows rejected)", title_justify="left")
        for column in ("column", "expectation", "rows", "examples"):
            failures.add_column(column)
        for failure in result.validation.failures:
            failures.add_row(failure.column or "", failure.expectation, str(failure.unexpected),
                             ", ".join(map(str, failure.examples)))
        parts.append(failures)
    drifted = sorted(result.drift.items(), key=lambda item: -item[1])[:5]
    if drifted:
        drift = Table(title="Largest drift (PSI vs training)", title_justify="left")
        drift.add_column("feature")
        drift.add_column("psi", justify="right")
        for name, value in drifted:
            drift.add_row(name, f"{value:.3f}")
        parts.append(drift)
    return parts


def associations_table(associations) -> Table:
    table = Table(title="Associations", title_justify="left")
    for column in ("name", "dag id", "model", "workflow", "schedule", "policy", "input", "output"):
        table.add_column(column)
    for a in associations:
        table.add_row(a.name, a.dag_id, a.model_ref, a.workflow, a.schedule or "on demand", a.policy,
                      a.input_path, a.output_path)
    return table


def runs_table(runs) -> Table:
    table = Table(title="Scoring runs", title_justify="left")
    for column in ("run", "model", "status", "rows in", "scored", "rejected", "rows/s", "max psi", "started"):
        table.add_column(column, justify="right" if column in ("rows in", "scored", "rejected", "rows/s", "max psi") else "left")
    for run in runs:
        psi = max(run.drift.values()) if run.drift else None
        table.add_row(
            run.id, f"{run.model_name}/{run.model_version}", run.status,
            *(f"{value:,}" if value is not None else "" for value in (run.rows_in, run.rows_scored, run.rows_rejected)),
            f"{run.rows_per_s:,.0f}" if run.rows_per_s else "", _metric(psi),
            run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    return table


def deployments_table(deployments) -> Table:
    table = Table(title="Deployments", title_justify="left")
    for column in ("model", "status", "healthy", "replicas", "url", "runtime", "req/min", "errors", "p50/p99 ms",
                   "bento", "updated", "reason"):
        table.add_column(column)
    for d in deployments:
        healthy = "" if d.healthy is None else ("yes" if d.healthy else "NO")
        checked = [replica.healthy for replica in d.replicas if replica.healthy is not None]
        replicas = f"{sum(checked)}/{len(d.replicas)} healthy" if checked else str(len(d.replicas) or "")
        table.add_row(f"{d.model_name}/{d.model_version}", d.status, healthy, replicas, d.url or "", _runtime_cell(d.runtime),
                      *_traffic_cells(d.traffic), _bento_cell(d), d.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
                      (d.status_reason or "")[:80])
    return table


def _bento_cell(deployment) -> str:
    """The tag; or that it is still building (a swap serves first), or failed: `modelyard events` says why."""
    return {"built": deployment.bento_tag, "building": "building…", "failed": "build failed"}.get(
        deployment.bento_state, "")


def _runtime_cell(runtime) -> str:
    if runtime is None:
        return ""
    return f"{runtime.runtime} {runtime.one_row_speedup:.1f}x" if runtime.chosen else runtime.runtime


def _window(start, end) -> str:
    """Minutes for hourly windows; seconds when a window is shorter than a few minutes (a pass run
    by hand soon after another), or 402 requests in "13:04..13:05" read as 1,928 req/min."""
    clock = "%H:%M" if (end - start).total_seconds() >= 300 else "%H:%M:%S"
    return f"{start:%m-%d} {start.strftime(clock)}..{end.strftime(clock)}"


def _traffic_cells(traffic) -> tuple[str, str, str]:
    """Requests per minute, errors (share and count) and p50/p99 of the last minute at the model's URL."""
    if traffic is None:
        return "", "", ""
    errors = "" if traffic.error_rate is None else f"{traffic.error_rate:.1%} ({traffic.errors})"
    if traffic.errors:
        errors = f"[red]{errors}[/red]"
    latency = "" if traffic.p50_ms is None else f"{traffic.p50_ms:.1f}/{traffic.p99_ms:.1f}"
    return f"{traffic.requests_per_minute:g}", errors, latency


def platform_table(state) -> Table:
    """Each process of the platform: service, PID, where it answers, health, uptime, and how often
    the platform restarted it and why it did last."""
    table = Table(title=f"Platform ({state.home})", title_justify="left")
    for column in ("service", "process", "state", "pid", "url", "health", "uptime", "restarts", "last reason"):
        table.add_column(column)
    for service in state.services:
        if not service.processes:
            where = f"uses {service.replaced_by}" if service.replaced_by else ""
            table.add_row(service.name, "", service.action, "", where, "", "", "", "")
        for process in service.processes:
            health = "healthy" if process.healthy else "running, not healthy" if process.running else \
                "FAILED (left down)" if process.failed else "dead"
            uptime = "" if process.uptime_seconds is None else _duration(process.uptime_seconds)
            table.add_row(service.name, process.name, service.action, str(process.pid), process.url or "", health,
                          uptime, str(process.restarts or ""), (process.last_reason or "")[:160])
    return table


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def logins_table(logins) -> Table:
    table = Table(title="Logins", title_justify="left")
    for column in ("name", "role", "kept in"):
        table.add_column(column)
    kept = {"platform": "the platform's own", "added": "users.json under the home", "fab": "FAB's database"}
    for login in logins:
        table.add_row(login.name, login.role, kept[login.source])
    return table


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def monitoring_view(overview, *, windows: int = 12) -> list:
    """The terminal view of a model's monitoring: windows, drift per feature, alerts, thresholds."""
    records = overview.records[-windows:]
    if not records:
        return [f"{overview.model_name}: no monitoring records yet (`modelyard monitor {overview.model_name} --now` "
                "runs a pass)"]
    table = Table(title=f"Monitoring of {overview.model_name}", title_justify="left")
    for column in ("window (UTC)", "source", "version", "requests", "req/min", "errors", "p50 ms", "p99 ms",
                   "drifted", "pred PSI", "labelled", "metrics", "alerts"):
        table.add_column(column, justify="left" if column in ("window (UTC)", "source", "metrics") else "right")
    for record in records:
        figures = record.figures
        metrics = ", ".join(f"{name} {value:.3g}" for name, value in figures.metrics.items())
        table.add_row(
            _window(record.window_start, record.window_end), record.source,
            str(record.model_version or "*"), str(figures.requests or figures.rows), _metric(figures.requests_per_min),
            _share(figures.error_rate), _ms(figures.latency_p50_ms), _ms(figures.latency_p99_ms),
            f"{len(figures.drifted_features)}/{len(figures.feature_psi)}" if figures.feature_psi else "",
            _metric(figures.prediction_psi), str(figures.labelled_rows or ""), metrics,
            f"[red]{len(record.alerts)}[/red]" if record.alerts else "")
    drift = Table(title="Feature PSI against training (>= 0.1 some drift, >= "
                        f"{overview.thresholds.psi:g} alert)", title_justify="left")
    drift.add_column("feature")
    shown = [record for record in records if record.figures.feature_psi][-6:]
    for record in shown:
        drift.add_column(f"{record.window_end:%m-%d %H:%M}", justify="right")
    for feature in overview.features:
        cells = []
        for record in shown:
            value = record.figures.feature_psi.get(feature)
            text = "" if value is None else f"{value:.3f}"
            cells.append(f"[red]{text}[/red]" if value is not None and value >= overview.thresholds.psi
                         else f"[yellow]{text}[/yellow]" if value is not None and value >= 0.1 else text)
        drift.add_row(feature, *cells)
    parts = [table, drift]
    if overview.open_alerts:
        parts.append(f"[red bold]Open alerts[/red bold] (latest window with requests, ending "
                     f"{overview.alerts_window_end:%Y-%m-%d %H:%M} UTC):\n" + "\n".join(
            f"  [red]![/red] {alert.message}" for alert in overview.open_alerts))
    else:
        parts.append("[green]no open alerts[/green] (latest window with requests)")
    thresholds = overview.thresholds
    floors = ", ".join(f"{name} {value:g}" for name, value in thresholds.metric_floors.items()) or "none"
    parts.append(f"thresholds: psi {thresholds.psi:g}, drifted share {thresholds.drifted_share:.0%} "
                 f"(over {thresholds.min_drift_rows} rows or more), "
                 f"error rate {thresholds.error_rate:.1%}, p99 {thresholds.latency_p99_ms or 'off'} ms, "
                 f"metric floors {floors}, webhook {thresholds.webhook_url or 'none'}")
    return parts


def challenge_view(challenge, evaluation) -> list:
    """A challenge in a terminal: who against whom, each version's figures side by side, where
    they disagree, the labelled metric with its interval, and the rule's checks."""
    head = (f"challenge {challenge.id} of {challenge.model_name}: version {challenge.challenger_version} against "
            f"{challenge.champion_version}, {challenge.mode} {challenge.percent:g} %, started "
            f"{challenge.started_at:%Y-%m-%d %H:%M} UTC by {challenge.started_by}")
    if evaluation is None:
        return [head, f"{challenge.status} {challenge.ended_at:%Y-%m-%d %H:%M} UTC by {challenge.ended_by}: "
                      f"{challenge.outcome}"]
    comparison, live = evaluation.comparison, evaluation.live
    table = Table(title="Side by side (logged answers since the start)", title_justify="left")
    for column in ("version", "requests", "errors", "refused", "p50 ms", "p99 ms", "live requests", "live p99 ms"):
        table.add_column(column, justify="left" if column == "version" else "right")
    for role, version, figures, now in (
            ("champion", challenge.champion_version, comparison.champion, live.champion if live else None),
            ("challenger", challenge.challenger_version, comparison.challenger, live.challenger if live else None)):
        table.add_row(f"{role} {version}", str(figures.requests), _share(figures.error_rate), str(figures.refused),
                      _ms(figures.p50_ms), _ms(figures.p99_ms), str(now.requests) if now else "",
                      _ms(now.p99_ms) if now else "")
    parts = [head, table, _agreement_line(comparison)]
    if comparison.where_they_disagree:
        parts.append("where they disagree most: " + "; ".join(
            f"{bin_.feature} {_bin_range(bin_)} ({_bin_figure(bin_)} of {bin_.rows} rows)"
            for bin_ in comparison.where_they_disagree))
    labelled = comparison.labelled
    if labelled is not None:
        interval = "n/a" if labelled.interval is None else f"{labelled.interval[0]:+.4g}..{labelled.interval[1]:+.4g}"
        parts.append(f"on {labelled.rows} labelled rows: {labelled.metric} champion {labelled.champion_value:.4g}, "
                     f"challenger {labelled.challenger_value:.4g}, difference {labelled.difference:+.4g} "
                     f"(interval {interval})")
    if live is not None:
        parts.append(f"gateway: {live.mirrored} mirrored, {live.mirror_pending} still to send, "
                     f"{live.mirror_dropped} dropped at the bound, "
                     f"{live.mirror_failed} mirrors unanswered, {live.answered} answered by the challenger, "
                     f"{live.failed_over} failed over to the champion")
    parts += [f"rule: {check}" for check in evaluation.checks] + [f"note: {note}" for note in comparison.notes]
    if evaluation.decision is not None:
        parts.append(f"[bold]the rule decides: {evaluation.decision.action}[/bold]: {evaluation.decision.reason}")
    return parts


def _agreement_line(comparison) -> str:
    if comparison.paired_rows == 0:
        return "no request answered by both versions yet"
    if comparison.agreement is not None:
        return (f"{comparison.paired_requests} requests answered by both: same label on {comparison.agreement:.1%} "
                f"of {comparison.paired_rows} rows ({comparison.disagreements} differ); probability difference mean "
                f"{_metric(comparison.mean_probability_difference)}, max {_metric(comparison.max_probability_difference)}")
    return (f"{comparison.paired_requests} requests answered by both: mean |difference| "
            f"{_metric(comparison.mean_absolute_difference)}, max {_metric(comparison.max_absolute_difference)}, "
            f"correlation {_metric(comparison.correlation)}")


def _bin_range(bin_) -> str:
    return f"= {bin_.value}" if bin_.value is not None else f"{bin_.low:.4g}..{bin_.high:.4g}"


def _bin_figure(bin_) -> str:
    share = getattr(bin_, "share", None)
    return _share(share) if share is not None else f"mean |diff| {_metric(getattr(bin_, 'mean_absolute_difference', None))}"

"""Challengers from the command line: ``challenge NAME --version V`` starts one, ``challenge status
NAME`` compares it with the champion now, ``promote``, ``end`` and ``judge`` decide.
``cli.main`` registers the group."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from cli.common import JsonOption, handles_errors
from cli.output import errors, show


class StartByDefault(TyperGroup):
    """``challenge NAME ...`` means ``challenge start NAME ...``: the other words are subcommands."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["start", *args]
        return super().resolve_command(ctx, args)


challenge = typer.Typer(cls=StartByDefault, no_args_is_help=True,
                        help="Try a version on live traffic behind the champion's URL: "
                             "`modelyard challenge NAME --version V [--mode canary --percent 20]`.")


def parse_rule(pairs: list[str], *, auto_promote: bool, auto_rollback: bool):
    """``min_labelled=100``, ``max_p99_ratio=2`` ... over the defaults (``registry.challenges.Rule``)."""
    from registry.challenges import Rule, rule_from
    from registry.errors import InvalidFieldError

    values: dict = {"auto_promote": auto_promote, "auto_rollback": auto_rollback}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or key.strip() not in Rule.model_fields:
            raise InvalidFieldError(f"rule {pair!r}: expected NAME=VALUE with NAME one of "
                                    f"{', '.join(Rule.model_fields)}", field="rule")
        try:
            values[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            values[key.strip()] = text
    return rule_from(values)


@challenge.command("start")
@handles_errors
def start(
    name: Annotated[str, typer.Argument(help="A served model's name.")],
    version: Annotated[str, typer.Option("--version", help="The challenger: a version number or an alias.")],
    mode: Annotated[str, typer.Option(help="shadow: it sees the traffic, the champion answers; "
                                           "canary: it answers --percent of it.")] = "shadow",
    percent: Annotated[float, typer.Option(help="Share of requests it sees (shadow) or answers (canary).")] = 100.0,
    sticky_header: Annotated[Optional[str], typer.Option(
        help="Canary: the same value of this request header always gets the same version.")] = None,
    replicas: Annotated[Optional[int], typer.Option(min=1, max=16, help="Its servers (default: MODELYARD_SERVE_REPLICAS).")] = None,
    rule: Annotated[Optional[list[str]], typer.Option(
        "--rule", help="Change a bound: min_labelled=100, promote_margin=0.01, max_error_rate_increase=0.05, "
                       "max_p99_ratio=2, min_requests=50, confidence=0.9 (repeatable).")] = None,
    auto_promote: Annotated[bool, typer.Option(help="Promote by itself when it wins on labels.")] = True,
    auto_rollback: Annotated[bool, typer.Option(help="End a canary by itself when it fails or slows.")] = True,
    as_json: JsonOption = False,
):
    """Build, launch and check a version as a deploy does, then put it behind the model's URL."""
    from bento_services.challenges import start_challenge
    from registry.settings import get_settings

    settings = get_settings()
    chosen = parse_rule(rule or [], auto_promote=auto_promote, auto_rollback=auto_rollback)
    errors.print(f"[dim]-[/dim] challenging {name} with version {version} ({mode}, {percent:g} %): "
                 "build, launch, health check, parity check, route")
    started = start_challenge(name, version, mode=mode, percent=percent, sticky_header=sticky_header, rule=chosen,
                              replicas=replicas, settings=settings)
    share = "sees a copy of" if mode == "shadow" else "answers"
    show(started, as_json, lambda started: (
        f"challenge {started.id}: {name}/{started.challenger_version} {share} {percent:g} % of the "
        f"requests to {name}/{started.champion_version}; `modelyard challenge status {name}` compares them"))


@challenge.command("status")
@handles_errors
def status(name: Annotated[str, typer.Argument(help="A model's name.")], as_json: JsonOption = False):
    """The active challenge compared now (request by request, live counts, the rule's checks), or the last one's outcome."""
    from cli.output import challenge_view
    from pipelines.challenges.evaluate import evaluate_challenge
    from registry.challenges import challenges_of
    from registry.settings import get_settings
    from registry.store import mlflow_client, require_registered

    settings = get_settings()
    require_registered(mlflow_client(settings), name)
    found = challenges_of(name, settings=settings, limit=1)
    if not found:
        errors.print(f"{name} has never been challenged; start with `modelyard challenge {name} --version V`")
        raise typer.Exit(1)
    evaluation = evaluate_challenge(settings, found[0]) if found[0].active else None
    show(evaluation or found[0], as_json, lambda _: challenge_view(found[0], evaluation))


@challenge.command("promote")
@handles_errors
def promote(name: Annotated[str, typer.Argument(help="A model with an active challenge.")], as_json: JsonOption = False):
    """The challenger becomes the champion on the same URL (no request lost); `production` moves to it."""
    from bento_services.challenges import promote_challenger
    from registry.settings import get_settings

    show(promote_challenger(name, settings=get_settings()), as_json, lambda info: (
        f"{name}/{info.model_version} is the champion at [bold]{info.url}[/bold]; alias production -> "
        f"{info.model_version}"))


@challenge.command("end")
@handles_errors
def end(name: Annotated[str, typer.Argument(help="A model with an active challenge.")], as_json: JsonOption = False):
    """Take the challenger off the model's URL and stop it; the champion serves alone."""
    from bento_services.challenges import end_challenge
    from registry.settings import get_settings

    show(end_challenge(name, settings=get_settings()), as_json, lambda ended: (
        f"challenge {ended.id} ended: {name}/{ended.challenger_version} stopped, "
        f"{name}/{ended.champion_version} serves alone"))


@challenge.command("judge")
@handles_errors
def judge(name: Annotated[Optional[str], typer.Argument(help="One model; default: every active challenge.")] = None,
          as_json: JsonOption = False):
    """Evaluate the active challenges now and do what their rules decide (the watchdog does it every 30 s)."""
    from pipelines.challenges.judge import judge_once
    from registry.settings import get_settings

    show(judge_once(get_settings(), model=name), as_json, _judged_lines)


def _judged_lines(judged) -> list[str]:
    if not judged:
        return ["no active challenge"]
    lines = []
    for result in judged:
        challenge_ = result.evaluation.challenge
        said = result.done or result.error or "nothing to do yet: " + "; ".join(result.evaluation.checks)
        lines.append(f"{challenge_.model_name} challenge {challenge_.id}: {said}")
    return lines


@handles_errors
def retrain(
    name: Annotated[str, typer.Argument(help="A model trained here.")],
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Change its policy: data_path=/data/x.parquet, on_drift=true, min_drifted_features=3, "
                      "every_hours=24, validation_floor.accuracy=0.9, percent=100, enabled=false (repeatable).")] = None,
    now: Annotated[bool, typer.Option("--now", help="Retrain now (and challenge with the new version).")] = False,
    as_json: JsonOption = False,
):
    """A model's retraining policy (shown, or changed with --set), or a retraining now with --now."""
    from cli.monitoring import parse_settings
    from registry.errors import InvalidFieldError
    from registry.retraining import policy_for, set_policy
    from registry.settings import get_settings
    from registry.store import mlflow_client, require_registered

    settings = get_settings()
    require_registered(mlflow_client(settings), name)
    info = policy_for(settings, name)
    if set_:
        current = info.policy.model_dump(mode="json") if info else {}
        info = set_policy(settings, name, parse_settings(set_, current), actor=settings.user)
    if now:
        from pipelines.challenges.retrain import retrain as retrain_model

        if info is None:
            raise InvalidFieldError(f"{name} has no retraining policy: give one with --set data_path=...",
                                    field="data_path")
        errors.print(f"[dim]-[/dim] retraining {name} on {info.policy.data_path}; a version that clears the floor "
                     "goes into a shadow challenge (build, launch, health check, parity check, route)")
        outcome = retrain_model(settings, name, trigger=f"asked by {settings.user}", actor=settings.user)
        show(outcome, as_json, lambda outcome: _retrained_line(name, outcome))
        return
    show(info, as_json, lambda info: _policy_line(name, info))


def _retrained_line(name: str, outcome) -> str:
    made = f"version {outcome.version} registered" if outcome.version else "no version registered"
    then = f"; challenge {outcome.challenge_id} started (shadow)" if outcome.challenge_id else \
        f"; no challenge: {outcome.skipped}" if outcome.skipped else ""
    return f"{name}: {made}{then}"


def _policy_line(name: str, info) -> str:
    if info is None:
        return f"{name} has no retraining policy (give one with --set data_path=...)"
    policy = info.policy
    floors = ", ".join(f"{key} {value:g}" for key, value in policy.validation_floor.items()) or "none"
    return (f"{name}: retrain on {policy.data_path}"
            f"{f' when {policy.min_drifted_features}+ features drift' if policy.on_drift else ''}"
            f"{f', every {policy.every_hours:g} h' if policy.every_hours else ''}; floor {floors}; "
            f"{'enabled' if policy.enabled else 'disabled'}; last retrained "
            f"{info.last_retrained_at or 'never'}")

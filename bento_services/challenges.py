"""A challenger behind a champion's URL: started, ended and promoted, with no request lost.

``start_challenge`` builds, launches and checks the challenger version exactly as a deploy does
(the same steps: its bento, replicas, health, parity), records its replicas as a deployment of
status ``challenger``, and adds it to the model's route file: the gateway then mirrors a share
of requests to it (shadow) or lets it answer a share (canary), ``bento_services.gateway``.
``end_challenge`` takes it out of the route, waits until nothing is in flight to it, and stops
it by PID. ``promote_challenger`` makes its running replicas the champion's, through the same
switch as a deploy (route, ``production`` alias, drain and retire the old). Each is one event.
The comparison and the rule that may call the last two are ``pipelines.challenges``'s.
"""

from __future__ import annotations

from bento_services import endpoints
from bento_services.model_lock import model_lock
from bento_services.records import retire
from bento_services.routes import ChallengerRoute, Route
from bento_services.servers import version_dir
from bento_services.steps import (
    Build, DeployContext, Launch, NoDeploymentError, run_chain, switch_to,
)
from infra.probes import local_url
from infra.processes import set_background
from registry.challenges import (
    ChallengeInfo, Decision, Rule, active_challenge, check_challenge_request, record_ended, record_started,
)
from registry.deployments import DeploymentInfo, record_running, replica_urls, replicas_of, running, set_status
from registry.errors import ConflictError, InvalidFieldError
from registry.metadata.db import session_scope
from registry.metadata.tables import Deployment
from registry.refs import ModelRef
from registry.settings import Settings

LAUNCH = ("build", "launch", "check_health", "check_parity")



class NoChallengeError(ConflictError):
    """The model has no active challenge."""


def start_challenge(name: str, version: str | int, *, settings: Settings, mode: str = "shadow",
                    percent: float = 100.0, sticky_header: str | None = None, rule: Rule | None = None,
                    replicas: int | None = None, actor: str | None = None) -> ChallengeInfo:
    """Put ``version`` (a number or an alias) of a served model behind its URL as a challenger."""
    actor = actor or settings.user
    check_challenge_request(mode, percent, sticky_header)
    champion = _champion(name, settings)
    challenger_version = _resolve(name, version, settings)
    if challenger_version == champion.model_version:
        raise InvalidFieldError(f"version {challenger_version} of {name!r} is the champion already", field="version")
    refuse_second(name, settings)
    ctx = DeployContext(settings=settings, actor=actor, replicas=replicas, action="challenger_launched")
    launched = run_chain(LAUNCH, str(ModelRef(name, challenger_version)), ctx)
    try:
        with model_lock(name, settings):
            return _route_challenger(launched, _champion(name, settings), mode, percent, sticky_header,
                                     rule or Rule(), ctx)
    except Exception:
        from bento_services.servers import stop_server

        for replica in launched.replicas:
            stop_server(replica.process_list())
        raise


def end_challenge(name: str, *, settings: Settings, reason: str | None = None, actor: str | None = None,
                  figures: dict | None = None) -> ChallengeInfo:
    """Take the challenger out of the route, let what is in flight to it finish, stop it by PID."""
    actor = actor or settings.user
    with model_lock(name, settings):
        challenge = require_active(name, settings)
        champion = _champion(name, settings)
        endpoint = endpoints.route_to(name, _port(name, settings),
                                      Route(name, champion.model_version, replica_urls(champion)), settings)
        _stop_challenger(challenge, endpoint.local_url, f"challenge {challenge.id} ended", actor, settings)
        return record_ended(challenge.id, status="ended", outcome=reason or f"ended by {actor}", actor=actor,
                            figures=figures or {}, settings=settings)


def promote_challenger(name: str, *, settings: Settings, reason: str | None = None, actor: str | None = None,
                       figures: dict | None = None) -> DeploymentInfo:
    """The challenger's running replicas become the champion on the same URL; the old champion is
    drained and stopped as a deploy does it."""
    actor = actor or settings.user
    with model_lock(name, settings):
        challenge = require_active(name, settings)
        with session_scope(settings) as session:
            row = session.get(Deployment, challenge.deployment_id)
        ctx = DeployContext(settings=settings, actor=actor, action="challenger_promoted")
        launched = _launch_of(row, settings)
        kept_low = set_background([process for replica in launched.replicas for process in replica.process_list()],
                                  False)
        info = switch_to(launched, ctx)
        set_status(row.id, status="promoted", reason=f"promoted to deployment {info.id}", settings=settings)
        outcome = reason or f"promoted by {actor}"
        if kept_low:
            outcome += f"; its servers stay in the background CPU class until restarted ({'; '.join(kept_low)})"
        record_ended(challenge.id, status="promoted", outcome=outcome, actor=actor, figures=figures or {},
                     settings=settings)
        return info


def act_on(decision: Decision, *, settings: Settings, actor: str) -> ChallengeInfo | DeploymentInfo:
    """Carry out what a rule decided, its reason and figures on the event."""
    if decision.action == "promote":
        return promote_challenger(decision.model_name, settings=settings, reason=decision.reason, actor=actor,
                                  figures=decision.figures)
    return end_challenge(decision.model_name, settings=settings, reason=decision.reason, actor=actor,
                         figures=decision.figures)


def end_replaced_challenge(info: DeploymentInfo, *, actor: str, settings: Settings) -> None:
    """After a deploy or rollback (the caller holds the lock, the route has no challenger any more):
    end the challenge measured against the old champion, unless its challenger is what was promoted."""
    challenge = active_challenge(info.model_name, settings=settings)
    if challenge is None:
        return
    with session_scope(settings) as session:
        row = session.get(Deployment, challenge.deployment_id)
    if row is not None and set(replica_urls(row)) == {replica.url for replica in info.replicas}:
        return
    _stop_challenger(challenge, local_url(info.endpoint_port), f"replaced by deployment {info.id}",
                     actor, settings)
    record_ended(challenge.id, status="ended", actor=actor, figures={}, settings=settings,
                 outcome=f"the champion was replaced by deployment {info.id} (version {info.model_version})")


def stop_challenge_of(name: str, *, reason: str, actor: str, settings: Settings) -> None:
    """End a model's challenge whose gateway is going away (undeploy, the platform stopping), holding its lock."""
    challenge = active_challenge(name, settings=settings)
    if challenge is not None:
        _stop_challenger(challenge, None, reason, actor, settings)
        record_ended(challenge.id, status="ended", outcome=reason, actor=actor, figures={}, settings=settings)


# --- helpers ----------------------------------------------------------------------------------

def _route_challenger(launched: Launch, champion: Deployment, mode: str, percent: float, sticky_header: str | None,
                      rule: Rule, ctx: DeployContext) -> ChallengeInfo:
    built, settings = launched.build, ctx.settings
    refuse_second(built.model_name, settings)
    info = record_running(model_name=built.model_name, model_version=built.model_version, bento_tag=built.bento_tag,
                          replicas=launched.replicas, url=champion.url, runtime=built.runtime,
                          action=ctx.action, actor=ctx.actor, request_id=None, settings=settings, status="challenger")
    challenge = record_started(model_name=built.model_name, champion_version=champion.model_version,
                               challenger_version=built.model_version, deployment_id=info.id, mode=mode,
                               percent=percent, sticky_header=sticky_header, rule=rule, actor=ctx.actor,
                               details={"backend_urls": launched.urls}, settings=settings)
    route = Route(built.model_name, champion.model_version, replica_urls(champion),
                  ChallengerRoute(launched.urls, built.model_version, info.id, challenge.id, mode, percent, sticky_header))
    if mode == "shadow":  # no client waits for a copy's answer: the champion's requests get the CPU first
        set_background([process for replica in launched.replicas for process in replica.process_list()], True)
    try:
        endpoints.route_to(built.model_name, _port(built.model_name, settings), route, settings)
    except Exception as error:
        set_status(info.id, status="failed", reason=f"routing the challenger failed: {error}", settings=settings)
        record_ended(challenge.id, status="ended", outcome=f"routing failed: {type(error).__name__}: {error}",
                     actor=ctx.actor, figures={}, settings=settings)
        raise
    return challenge


def _stop_challenger(challenge: ChallengeInfo, gateway_url: str | None, reason: str, actor: str,
                     settings: Settings) -> None:
    with session_scope(settings) as session:
        row = session.get(Deployment, challenge.deployment_id)
    if row is None or row.status != "challenger":
        return
    if gateway_url is not None:
        for url in replica_urls(row):
            endpoints.wait_drained(gateway_url, url)
    retire(row, status="stopped", reason=reason, action="challenger_stopped", actor=actor, settings=settings,
           details={"challenge_id": challenge.id})


def _launch_of(row: Deployment, settings: Settings) -> Launch:
    """A challenger's running replicas as the switch takes a deploy's."""
    folder = version_dir(settings, row.model_name, row.model_version)
    built = Build(model_name=row.model_name, model_version=row.model_version, bento_tag=row.bento_tag,
                  model_dir=str(folder / "model"), runtime=row.runtime)
    return Launch(build=built, replicas=replicas_of(row))


def _champion(name: str, settings: Settings) -> Deployment:
    found = running(name, settings=settings)
    if not found:
        raise NoDeploymentError(f"model {name!r} has no running deployment to challenge")
    return found[0]


def _port(name: str, settings: Settings) -> int:
    """The port of the model's URL, which the challenger shares."""
    return endpoints.get_endpoint(name, settings).port


def require_active(name: str, settings: Settings) -> ChallengeInfo:
    """The model's active challenge; refused when it has none."""
    challenge = active_challenge(name, settings=settings)
    if challenge is None:
        raise NoChallengeError(f"model {name!r} has no active challenge")
    return challenge


def refuse_second(name: str, settings: Settings) -> None:
    """One challenge per model at a time."""
    current = active_challenge(name, settings=settings)
    if current is not None:
        raise ConflictError(f"model {name!r} has an active challenge already (version {current.challenger_version}, "
                            f"{current.mode}, id {current.id}); promote or end it first")


def _resolve(name: str, version: str | int, settings: Settings) -> int:
    from registry.refs import parse_ref
    from registry.store import mlflow_client, resolve_version

    text = str(version).strip()
    ref = f"{name}/{text}" if text.isdigit() else f"{name}@{text.removeprefix('@')}"
    return int(resolve_version(parse_ref(ref), mlflow_client(settings)).version)

"""Challenge a served model: start a challenger (shadow or canary) behind its URL, promote it, or
end the challenge.

Params: the model's name, `action` (start, promote, end), and for start the challenger's
`version` (a number or an alias), `mode`, `percent`, `sticky_header`, `replicas` and `rule`
(bounds over the README's defaults, e.g. {"min_labelled": 100}). It runs on the serving queue,
the machine that hosts the model's servers; the Models page's "Challenge with..", Promote and End
challenge actions trigger it. Every outcome is an event in the model's history.
"""

from airflow.sdk import Param, get_current_context, task

from bento_services import chain
from modelyard_tasks import acting_user, fails_without_retry
from serving_tasks import serving_dag


@task
@fails_without_retry
def challenge(model_name: str, action: str) -> dict:
    """One challenge action (bento_services.challenges), for the user who triggered the run."""
    from bento_services import challenges
    from registry.challenges import rule_from
    from registry.settings import get_settings

    context = get_current_context()
    params, settings, actor = context["params"], get_settings(), acting_user(context)
    if action == "promote":
        return challenges.promote_challenger(model_name, settings=settings, actor=actor).model_dump(mode="json")
    if action == "end":
        return challenges.end_challenge(model_name, settings=settings, actor=actor).model_dump(mode="json")
    started = challenges.start_challenge(
        model_name, params["version"], mode=params["mode"], percent=params["percent"],
        sticky_header=params.get("sticky_header") or None, replicas=params.get("replicas") or None,
        rule=rule_from(params.get("rule") or {}), settings=settings, actor=actor)
    return started.model_dump(mode="json")


@serving_dag(chain.CHALLENGE_DAG, __doc__, {
    "model_name": Param("breast_cancer_classifier", type="string", minLength=1, description="A served model"),
    "action": Param("start", enum=["start", "promote", "end"], description="What to do"),
    "version": Param("", type="string", description="start: the challenger, a version number or an alias"),
    "mode": Param("shadow", enum=["shadow", "canary"], description="start: shadow (a copy of each request) "
                                                                   "or canary (answers a share)"),
    "percent": Param(100.0, type="number", exclusiveMinimum=0, maximum=100,
                     description="start: the share of requests it sees or answers"),
    "sticky_header": Param(None, type=["null", "string"], description="start, canary: keep each caller on one "
                                                                      "version by this header"),
    "replicas": Param(None, type=["null", "integer"], minimum=1, maximum=16, description="start: its servers"),
    "rule": Param({}, type="object", description="start: rule bounds over the defaults, e.g. "
                                                 '{"min_labelled": 100, "auto_promote": false}'),
})
def challenge_model():
    challenge("{{ params.model_name }}", "{{ params.action }}")


challenge_model()

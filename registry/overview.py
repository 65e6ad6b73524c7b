"""What the Models page shows: every model with its serving and scoring state, and one model whole.

``model_rows`` joins the registry's models with each one's latest deployment (health checked
live), its associations (with their next run) and its last scoring run in a fixed number of
queries, so the list stays quick with hundreds of models. ``model_detail`` adds every version's
metrics, the events, deployments, runs and expectations of one model.
"""

from __future__ import annotations

from pydantic import BaseModel, computed_field

from registry.associations import AssociationInfo, list_associations
from registry.challenges import ActiveChallenge, active_challenges
from registry.catalog import ModelSummary, VersionSummary, list_models, list_versions
from registry.deployments import DeploymentInfo, RollbackChoice, current_deployments, list_deployments, rollback_choices
from registry.errors import ModelNotFoundError
from registry.expectations import ExpectationInfo, list_expectations
from registry.metadata.db import session_scope
from registry.metadata.events import EventRecord, events_for
from registry.refs import parse_ref
from registry.scoring_runs import ScoringRunInfo, last_runs, list_scoring_runs
from registry.settings import Settings


class ModelRow(ModelSummary):
    deployment: DeploymentInfo | None
    associations: list[AssociationInfo]
    last_run: ScoringRunInfo | None
    rollback: RollbackChoice | None = None  # None: nothing runs, so there is nothing to roll back
    challenge: ActiveChallenge | None = None  # a challenger behind its URL now

    @computed_field
    @property
    def key_metric_higher_is_better(self) -> bool | None:
        """How to rank models on the key metric (roc_auc up, rmse down); None without one."""
        from registry.evaluation import higher_is_better

        return higher_is_better(self.key_metric) if self.key_metric else None


class ModelDetail(BaseModel):
    model: ModelRow
    versions: list[VersionSummary]
    events: list[EventRecord]
    deployments: list[DeploymentInfo]
    scoring_runs: list[ScoringRunInfo]
    expectations: list[ExpectationInfo]
    associations: list[AssociationInfo]


def model_rows(*, settings: Settings, live: bool = True) -> list[ModelRow]:
    """One row per registered model, in name order."""
    deployments = current_deployments(settings=settings, live=live)
    rollbacks = rollback_choices(settings=settings)
    runs = last_runs(settings=settings)
    challenges = {challenge.model_name: ActiveChallenge(**challenge.model_dump())
                  for challenge in active_challenges(settings=settings)}
    associations: dict[str, list[AssociationInfo]] = {}
    for association in list_associations(settings=settings):
        associations.setdefault(parse_ref(association.model_ref).name, []).append(association)
    return [ModelRow(**summary.model_dump(), deployment=deployments.get(summary.name),
                     associations=associations.get(summary.name, []), last_run=runs.get(summary.name),
                     rollback=rollbacks.get(summary.name), challenge=challenges.get(summary.name))
            for summary in list_models(settings)]


def model_row(name: str, *, settings: Settings) -> ModelRow:
    found = [row for row in model_rows(settings=settings) if row.name == name]
    if not found:
        raise ModelNotFoundError(f"model {name!r} is not registered", field="name")
    return found[0]


def model_detail(name: str, *, settings: Settings, runs: int = 50) -> ModelDetail:
    """Everything the detail view shows about one model."""
    versions = list_versions(name, settings=settings)  # an unknown model fails here, first
    with session_scope(settings) as session:
        events = events_for(session, model_name=name)
    return ModelDetail(
        model=model_row(name, settings=settings),
        versions=versions,
        events=events,
        deployments=list_deployments(settings=settings, model_name=name),
        scoring_runs=list_scoring_runs(name, limit=runs, settings=settings),
        expectations=list_expectations(name, settings),
        associations=list_associations(name, settings),
    )

"""Offline (batch) scoring: plain pandas stage functions, mapped over partitions by Dask."""

from pipelines.scoring.batch import resolve_model, score_batch, validate_input
from pipelines.scoring.errors import DataValidationError, InputError
from pipelines.scoring.models import ResolvedModel, ScoringRequest, ScoringResult
from pipelines.scoring.runs import log_to_mlflow

__all__ = [
    "DataValidationError", "InputError", "ResolvedModel", "ScoringRequest", "ScoringResult",
    "log_to_mlflow", "resolve_model", "score_batch", "validate_input",
]

"""Offline (batch) scoring: plain pandas stage functions, mapped over partitions by Dask.

The entry points here run a batch inside the configured warm Dask cluster when there is one
(``on_cluster``), else in this process on a local cluster (``batch``); importing this package
costs only the typed requests and results.
"""

from pipelines.scoring.errors import DataValidationError, InputError
from pipelines.scoring.schema import ResolvedModel, ScoringRequest, ScoringResult, StageSeconds
from pipelines.scoring.on_cluster import log_to_mlflow, resolve_model, score_batch, validate_input

__all__ = [
    "DataValidationError", "InputError", "ResolvedModel", "ScoringRequest", "ScoringResult", "StageSeconds",
    "log_to_mlflow", "resolve_model", "score_batch", "validate_input",
]

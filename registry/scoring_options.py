"""What a batch scoring run can be asked for, defined once for every front (the CLI, the page's
API, an association, the DAG's Params: ``tests/dags`` holds the DAG to these)."""

from __future__ import annotations

from typing import Literal, get_args

from registry.errors import InvalidFieldError

BATCH_SCORING_DAG = "batch_scoring"  # the scoring workflow (dags/batch_scoring.py) associations plug into

ScoringPolicy = Literal["fail", "quarantine"]  # rows that fail validation: fail the run, or set them aside
OutputFormat = Literal["parquet", "csv"]

POLICIES: tuple[str, ...] = get_args(ScoringPolicy)
FORMATS: tuple[str, ...] = get_args(OutputFormat)


def check_policy(policy: str) -> str:
    """The policy if it is one of ``POLICIES``; else an error naming the field."""
    if policy not in POLICIES:
        raise InvalidFieldError(f"unknown policy {policy!r}: choose {' or '.join(POLICIES)}", field="policy")
    return policy

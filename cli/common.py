"""What every command shares: the error handling, quiet libraries and the ``--json`` option."""

from __future__ import annotations

import functools
import logging
import warnings
from typing import Annotated

import typer

from cli.output import errors

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

# The option that sets each field the service layer names in its errors.
FLAGS = {
    "trusted_types": "--trust-type", "trust_pickle": "--trust-pickle", "flavor": "--flavor", "target": "--target",
    "sample": "--sample", "name": "--name", "schedule": "--schedule", "input_path": "--input",
    "output_path": "--output", "policy": "--policy", "output_format": "--format", "key_columns": "--key",
    "port": "--port", "workflow": "--workflow", "role": "--role", "password": "--password-stdin",
    "file": "--file", "thresholds": "--set", "psi": "--set psi=VALUE", "drifted_share": "--set drifted_share=VALUE",
    "error_rate": "--set error_rate=VALUE", "latency_p99_ms": "--set latency_p99_ms=VALUE",
    "webhook_url": "--set webhook_url=VALUE", "min_drift_rows": "--set min_drift_rows=VALUE",
    "mode": "--mode", "percent": "--percent", "sticky_header": "--sticky-header", "rule": "--rule",
    "data_path": "--set data_path=PATH",
}
# What the command line offers for an error whose remedy is more than one field.
HINTS = {"ModelExistsError": "--name to choose another, or --new-version to add a version to it"}


def quiet_libraries() -> None:
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    for name in ("mlflow.utils.environment", "mlflow.store.db.utils", "alembic.runtime.migration",
                 "mlflow.models.model"):
        logging.getLogger(name).setLevel(logging.ERROR)


def handles_errors(command):
    """Turn Modelyard's errors into one line on stderr and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from registry.errors import ModelyardError

        quiet_libraries()
        try:
            return command(*args, **kwargs)
        except ModelyardError as error:
            flag = HINTS.get(type(error).__name__) or FLAGS.get(getattr(error, "field", None) or "")
            hint = f" ({flag})" if flag else ""
            errors.print(f"[red]error:[/red] {error}{hint}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper

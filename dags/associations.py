"""Scheduled scoring workflows, one DAG per association (`modelyard associate ...`).

Generated from the associations snapshot that Modelyard rewrites on every change (no database
query at parse time). Each DAG `score__<association>` runs the batch scoring tasks on its
schedule; a reference to an alias follows the alias at each run. Output paths may use Airflow
templates such as `{{ ds }}`. A DAG starts when its association was made: its first run is the
next slot after that (what the Models page shows), never the slot that had just passed.
"""

import json
import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import dag, get_parsing_context
from modelyard_tasks import scoring_chain


def _snapshot() -> list[dict]:
    path = os.environ.get("MODELYARD_ASSOCIATIONS_SNAPSHOT") or Path(
        os.environ.get("MODELYARD_HOME", "var")) / "associations.json"
    try:
        return json.loads(Path(path).read_text())["associations"]
    except FileNotFoundError:
        return []


def _made_at(association: dict) -> pendulum.DateTime:
    """When the association was made (UTC; the snapshot's times carry no zone from SQLite)."""
    return pendulum.parse(association["created_at"], tz="UTC")


def _association_dag(association: dict) -> None:
    @dag(
        dag_id=association["dag_id"],
        schedule=association["schedule"],
        start_date=_made_at(association),  # with catchup off, a start in the past would run its last slot now
        catchup=False,
        doc_md=f"{__doc__}\n\nModel `{association['model_ref']}`, input `{association['input_path']}`, "
               f"output `{association['output_path']}`, policy `{association['policy']}`.",
        tags=["modelyard", "association", association["model_ref"].split("@")[0].split("/")[0]],
        default_args={"owner": association["created_by"], "retries": 1, "retry_delay": timedelta(minutes=1)},
    )
    def generated():
        options = association.get("options", {})
        scoring_chain({
            "model_ref": association["model_ref"],
            "input_path": association["input_path"],
            "output_path": association["output_path"],
            "policy": association["policy"],
            "output_format": options.get("output_format", "parquet"),
            "association": association["name"],
            **({"key_columns": options["key_columns"]} if "key_columns" in options else {}),
            **({"extra_expectations": options["expectations"]} if "expectations" in options else {}),
        })

    generated()


_wanted = get_parsing_context().dag_id  # a worker builds only the DAG it runs
for _association in _snapshot():
    if _wanted is None or _wanted == _association["dag_id"]:
        _association_dag(_association)

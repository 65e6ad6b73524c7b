"""Batch scoring on demand: score a data set with a registered model version.

Trigger it from the UI, the REST API or `modelyard` with Params: the model reference
(`NAME@ALIAS` or `NAME/VERSION`, pinned to one version for the run), the input (Parquet or
CSV file, folder or glob; local or `s3://`), the output folder (replaced atomically) and the
validation policy: `fail` stops before scoring when any row breaks the model's expectations,
`quarantine` scores the valid rows and writes the others to `_rejects/` with a reason per row.

Tasks: resolve_model -> validate_input -> score_batch -> record_metrics.
"""

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag
from modelyard_tasks import scoring_chain


@dag(
    dag_id="batch_scoring",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["modelyard", "scoring"],
    default_args={"owner": "modelyard", "retries": 1, "retry_delay": timedelta(minutes=1)},
    params={
        "model_ref": Param("breast_cancer_classifier@champion", type="string", minLength=1,
                           description="NAME@ALIAS or NAME/VERSION"),
        "input_path": Param("", type="string", minLength=1, description="File, folder or glob"),
        "output_path": Param("", type="string", minLength=1, description="Output folder"),
        "policy": Param("fail", enum=["fail", "quarantine"]),
        "output_format": Param("parquet", enum=["parquet", "csv"]),
    },
    render_template_as_native_obj=False,
)
def batch_scoring():
    scoring_chain({
        "model_ref": "{{ params.model_ref }}",
        "input_path": "{{ params.input_path }}",
        "output_path": "{{ params.output_path }}",
        "policy": "{{ params.policy }}",
        "output_format": "{{ params.output_format }}",
    })


batch_scoring()

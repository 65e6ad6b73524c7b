"""Undeploy a model: stop its gateway and its running server by PID, free its port and remove
the alias `production` (files and bentos stay).

Params: the model's name. It runs on the serving queue, the machine whose processes it stops;
the Models page's Undeploy action triggers it.
"""

import pendulum
from airflow.sdk import Param, dag

from bento_services import chain
from serving_tasks import SERVING_DEFAULTS, serving_chain


@dag(
    dag_id=chain.UNDEPLOY_DAG,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["modelyard", "serving"],
    default_args=SERVING_DEFAULTS,
    params={"model_name": Param("breast_cancer_classifier", type="string", minLength=1,
                                description="The registered model to stop serving")},
    render_template_as_native_obj=True,
)
def undeploy_model():
    serving_chain(chain.UNDEPLOY, "{{ params.model_name }}")


undeploy_model()

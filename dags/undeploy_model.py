"""Undeploy a model: stop its gateway and its running server by PID (files and bentos stay).

Params: the model's name. It runs on the serving queue, the machine whose processes it stops;
the Models page's Undeploy action triggers it.
"""

from airflow.sdk import Param, dag

from bento_services import chain
from serving_tasks import SERVING_DAG, serving_chain


@dag(
    dag_id=chain.UNDEPLOY_DAG,
    doc_md=__doc__,
    params={"model_name": Param("breast_cancer_classifier", type="string", minLength=1,
                                description="The registered model to stop serving")},
    **SERVING_DAG,
)
def undeploy_model():
    serving_chain(chain.UNDEPLOY, "{{ params.model_name }}")


undeploy_model()

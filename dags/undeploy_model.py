"""Undeploy a model: stop its gateway and its running server by PID, free its port and remove
the alias `production` (files and bentos stay).

Params: the model's name. It runs on the serving queue, the machine whose processes it stops;
the Models page's Undeploy action triggers it.
"""

from airflow.sdk import Param

from bento_services import chain
from serving_tasks import serving_chain, serving_dag


@serving_dag(chain.UNDEPLOY_DAG, __doc__, {
    "model_name": Param("breast_cancer_classifier", type="string", minLength=1, description="The registered model to stop serving"),
})
def undeploy_model():
    serving_chain(chain.UNDEPLOY, "{{ params.model_name }}")


undeploy_model()

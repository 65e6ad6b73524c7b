"""Roll a model back: serve again the version deployed before the current one, at the same URL.

Params: the model's name. Tasks: swap, which loads that version into the model's warm spares
(`bento_services.swaps`) and skips the rest; without spares ready, previous_build -> launch ->
check_health -> check_parity -> promote (`bento_services.chain.ROLLBACK`): the earlier
deployment's bento (built again only if it was pruned), then the same checks and switch as a deploy. The Models page's Rollback action
triggers it; it runs on the serving queue, like `deploy_model`.
"""

from airflow.sdk import Param

from bento_services import chain
from serving_tasks import serving_chain, serving_dag


@serving_dag(chain.ROLLBACK_DAG, __doc__, {
    "model_name": Param("breast_cancer_classifier", type="string", minLength=1,
                        description="The registered model to roll back"),
})
def rollback_model():
    serving_chain(chain.ROLLBACK, "{{ params.model_name }}", action="rolled_back", swap="rollback")


rollback_model()

"""Roll a model back: serve again the version deployed before the current one, at the same URL.

Params: the model's name. Tasks: previous_build -> launch -> check_health -> check_parity ->
promote (`bento_services.chain.ROLLBACK`): the earlier deployment's bento (built again only if
it was pruned), then the same checks and switch as a deploy. The Models page's Rollback action
triggers it; it runs on the serving queue, like `deploy_model`.
"""

import pendulum
from airflow.sdk import Param, dag

from bento_services import chain
from serving_tasks import SERVING_DEFAULTS, serving_chain


@dag(
    dag_id=chain.ROLLBACK_DAG,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["modelyard", "serving"],
    default_args=SERVING_DEFAULTS,
    params={"model_name": Param("breast_cancer_classifier", type="string", minLength=1,
                                description="The registered model to roll back")},
    render_template_as_native_obj=True,
)
def rollback_model():
    serving_chain(chain.ROLLBACK, "{{ params.model_name }}", action="rolled_back")


rollback_model()

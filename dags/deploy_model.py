"""Deploy a model version as an online service: the Models page's Deploy action triggers this.

Params: the model reference (`NAME/VERSION`, or `NAME@ALIAS`, pinned to one version by the
build), for a model's first deploy only, its endpoint port (0: the first free from 3000), and
how many BentoML servers run behind the endpoint (0: the setting ``MODELYARD_SERVE_REPLICAS``),
and the runtime (`auto`: a compiled one where it passes parity and is faster; `native`).

Tasks: swap, then build -> launch -> check_health -> check_parity -> promote
(`bento_services.chain.DEPLOY`). `swap` serves a new version of a model that is serving from its
warm spare servers in seconds (`bento_services.swaps`: load, parity, promote; the bento is built
after) and the other tasks are skipped; for a first deploy, or with no spare ready, they run.
`launch` starts `bentoml serve` in its own session, so the server outlives the task that
started it; `promote` points the model's stable URL at it, moves the `production` alias and
retires the deployment it replaces once nothing is in flight to that one. A failing task stops
what was launched, records the deployment as failed with the step and the reason, and leaves
the current one serving; tasks do not retry. They run on the Celery queue
`MODELYARD_SERVING_QUEUE` (default `default`): with Celery workers, the worker that consumes it
is the machine that hosts the model servers.
"""

from airflow.sdk import Param

from bento_services import chain
from serving_tasks import serving_chain, serving_dag


@serving_dag(chain.DEPLOY_DAG, __doc__, {
    "model_ref": Param("breast_cancer_classifier@champion", type="string", minLength=1,
                       description="NAME/VERSION or NAME@ALIAS"),
    "port": Param(0, type="integer", minimum=0, maximum=65535,
                  description="Endpoint port for a model's first deploy; 0 = keep or pick"),
    "replicas": Param(0, type="integer", minimum=0, maximum=16,
                      description="BentoML servers behind the endpoint; 0 = MODELYARD_SERVE_REPLICAS"),
    "runtime": Param("auto", type="string", enum=["auto", "native"],
                     description="auto: a compiled runtime where it passes parity and is faster; native: never"),
})
def deploy_model():
    serving_chain(chain.DEPLOY, "{{ params.model_ref }}", swap="deploy")


deploy_model()

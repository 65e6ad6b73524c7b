"""The names of the serving steps, one place for all fronts; light enough for DAG files to import.

A model that is serving swaps a new version into its warm spares (``SWAP``); otherwise a deploy
is ``DEPLOY`` run in order; a rollback is ``ROLLBACK`` (the earlier deployment's bento
instead of a new build); reconcile restarts a dead server with ``RESTART``. The CLI runs a chain
in one process (``bento_services.deploy``), the DAGs run one task per step with the step's name
as task id and ``LABELS`` as its display name, and the Models page shows those labels.
"""

DEPLOY = ("build", "launch", "check_health", "check_parity", "promote")
ROLLBACK = ("previous_build", "launch", "check_health", "check_parity", "promote")
RESTART = ("launch", "check_health", "check_parity")
SWAP = "swap"  # before DEPLOY or ROLLBACK in their DAGs: the model's warm spares (bento_services.swaps) or those steps
UNDEPLOY = ("undeploy",)

LABELS = {
    "build": "Build", "previous_build": "Previous build", "launch": "Launch", "check_health": "Health",
    "check_parity": "Parity", "promote": "Promote", "undeploy": "Undeploy", "swap": "Swap into spares",
}

DEPLOY_DAG, ROLLBACK_DAG, UNDEPLOY_DAG = "deploy_model", "rollback_model", "undeploy_model"
CHALLENGE_DAG = "challenge_model"  # start, promote or end a challenger (bento_services.challenges)

"""The model repository: MLflow-backed models and versions, plus Modelyard's own metadata.

Everything above (pipelines, bento_services, dags, plugins, the CLI) builds on this package, and
it imports none of them; it stands on ``infra`` (processes, probes, polling, the Airflow client).
"""

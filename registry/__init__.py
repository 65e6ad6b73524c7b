"""The model repository: MLflow-backed models and versions, plus Modelyard's own metadata.

Everything above (pipelines, bento_services, dags, plugins, the CLI) builds on this package;
it imports none of them.
"""

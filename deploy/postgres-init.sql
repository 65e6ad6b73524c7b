-- One server, one database per store: MLflow's tracking/registry and Modelyard's metadata.
CREATE DATABASE mlflow OWNER modelyard;

-- One server, one database per store: MLflow's tracking/registry, Airflow, and Modelyard's metadata.
CREATE DATABASE mlflow OWNER modelyard;
CREATE DATABASE airflow OWNER modelyard;

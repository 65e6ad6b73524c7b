"""The embedded runtime: Airflow (and later other servers) as local processes under MODELYARD_HOME."""

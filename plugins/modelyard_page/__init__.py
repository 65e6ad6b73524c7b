"""The Models page's server side: its JSON API and its bundle, served inside Airflow's api-server.

Every route calls the same ``registry``, ``pipelines`` and ``bento_services`` functions as the
CLI and the DAG tasks; this package only checks who asks, translates HTTP to those calls and
their errors back to HTTP.
"""

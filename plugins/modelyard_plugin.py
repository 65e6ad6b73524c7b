"""The Models page in the Airflow UI: a top-level **Models** entry rendering the page's bundle,
and the JSON API it calls, mounted in the api-server at ``/modelyard`` (``modelyard_page``).

Airflow imports this file in every component that loads plugins, so it stays light: the API
app is built on its first request.
"""

from airflow.plugins_manager import AirflowPlugin

from modelyard_page.app import URL_PREFIX, lazy_app


class ModelyardPlugin(AirflowPlugin):
    name = "modelyard"
    fastapi_apps = [{"app": lazy_app, "url_prefix": URL_PREFIX, "name": "Modelyard models"}]
    react_apps = [{
        "name": "Models",
        "bundle_url": "modelyard/static/models.js",  # relative: Airflow may live under a base path
        "url_route": "models",
        "nav_top_level": True,
        "icon": "modelyard/static/models.svg",
        "icon_dark_mode": "modelyard/static/models-dark.svg",
    }]

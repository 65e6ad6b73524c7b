from tests.pipelines.monitoring.fixtures import monitored, webhook  # noqa: F401

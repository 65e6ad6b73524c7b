# The Modelyard image used by docker-compose.yaml: the locked environment plus the project.
FROM python:3.11-slim
ENV UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never PATH=/app/.venv/bin:$PATH
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY registry registry
COPY pipelines pipelines
COPY bento_services bento_services
COPY cli cli
COPY dags dags
COPY plugins plugins
COPY airflow.cfg airflow.cfg
RUN uv sync --frozen --no-dev
CMD ["modelyard", "--help"]

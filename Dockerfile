# The Modelyard image used by docker-compose.yaml: the locked environment plus the project.

# The Models page's bundle, built from its lock file with the Node.js that uv.lock pins (the `ui`
# dependency group alone), the same one `make ui` uses.
FROM python:3.11-slim AS ui
ENV UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never PATH=/node/.venv/bin:$PATH
WORKDIR /node
COPY pyproject.toml uv.lock ./
RUN pip install --no-cache-dir "$(grep -o 'uv==[0-9.]*' pyproject.toml)"
RUN uv sync --frozen --only-group ui
WORKDIR /ui
COPY plugins/ui/package.json plugins/ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY plugins/ui/vite.config.js ./
COPY plugins/ui/src src
RUN npm run build

FROM python:3.11-slim
ENV UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never PATH=/app/.venv/bin:$PATH
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
# Bootstraps with the uv the project locks; `uv sync` then puts that same uv in /app/.venv/bin,
# which `bentoml build` finds first on PATH. No dependency group: the tests' tools (dev) and Node
# (ui, only the first stage needs it) stay out of the image.
RUN pip install --no-cache-dir "$(grep -o 'uv==[0-9.]*' pyproject.toml)"
RUN uv sync --frozen --no-default-groups --no-install-project
COPY infra infra
COPY registry registry
COPY pipelines pipelines
COPY bento_services bento_services
COPY stack stack
COPY cli cli
COPY dags dags
COPY plugins plugins
COPY --from=ui /ui/dist plugins/ui/dist
COPY airflow.cfg airflow.cfg
RUN uv sync --frozen --no-default-groups
CMD ["modelyard", "--help"]

"""The Models page at scale: how long listing N registered models takes, beside a per-model loop.

A throwaway home gets two trained demo models, then N - 2 more registered models that are new
versions in MLflow's registry of the trained ones' logged models (with their tags and runs, so
every row has a flavor, a task and a key metric); every fifth model gets an association. Then,
side by side in one run:

- (a) a per-model MLflow loop, what a script over ``MlflowClient`` does: per model, its versions
  and the latest one's run (``search_model_versions`` + ``get_run``);
- ``list_models``: Modelyard's listing, a fixed number of paged calls;
- ``model_rows``: the page's rows (deployments, associations with their next run, last runs);
- ``GET /modelyard/api/models`` through the real api-server (the embedded stack), warm;
- with ``--browser``: Chromium opening ``/plugin/models`` until the first page of rows shows, and
  a sort by a column.

    .venv/bin/python benchmarks/models_page.py --models 500 --browser
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.harness import format_table, throwaway_workdir  # noqa: E402

TEMPLATES = ("breast_cancer_classifier", "diabetes_regressor")
REPEAT = 5


def seed_models(settings, total: int, *, train: bool = True) -> list[str]:
    """The two demo models (trained now, unless they are registered already), plus ``total - 2``
    registered from their logged models."""
    from pipelines.training import DEMO_MODELS, train_demo_model
    from registry.catalog import model_id_of
    from registry.store import latest_version, mlflow_client

    client = mlflow_client(settings)
    if train:
        for name in TEMPLATES:
            train_demo_model(DEMO_MODELS[name], settings)
    versions = [latest_version(client, name) for name in TEMPLATES]
    names = list(TEMPLATES)
    for index in range(max(total - len(TEMPLATES), 0)):
        version = versions[index % len(versions)]
        name = f"model_{index:04d}_{version.name}"
        client.create_registered_model(name, description=f"Copy {index} of {version.name}, for the listing benchmark")
        client.create_model_version(name, f"models:/{model_id_of(version)}", run_id=version.run_id,
                                    tags=dict(version.tags), description=version.description)
        names.append(name)
    return names


def seed_associations(settings, names: list[str], every: int = 5) -> int:
    from registry.associations import create_association

    root = settings.data_roots[0]
    made = 0
    for index, name in enumerate(names):
        if index % every == 0:
            create_association(f"{name}/1", input_path=f"{root}/{name}/in", output_path=f"{root}/{name}/{{{{ ds }}}}",
                               schedule="0 2 * * *", settings=settings)
            made += 1
    return made


def per_model_loop(settings) -> int:
    """(a): what a script over MlflowClient does: per model, its versions and the latest one's run."""
    from registry.store import mlflow_client

    client = mlflow_client(settings)
    count, token = 0, None
    while True:
        page = client.search_registered_models(max_results=200, page_token=token)
        for model in page:
            versions = client.search_model_versions(f"name = '{model.name}'", order_by=["version_number DESC"])
            if versions and versions[0].run_id:
                client.get_run(versions[0].run_id)
            count += 1
        token = page.token
        if not token:
            return count


def timed(function, repeat: int = REPEAT) -> tuple[float, object]:
    """Median seconds of ``repeat`` calls after one warm-up call, and the last result."""
    result = function()
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def http_list(base_url: str, token: str) -> tuple[float, float, int]:
    """First (cold) and median warm seconds of ``GET /modelyard/api/models``, and the row count."""
    import httpx

    with httpx.Client(base_url=f"{base_url}/modelyard/api", headers={"Authorization": f"Bearer {token}"},
                      timeout=300) as client:
        started = time.perf_counter()
        first = client.get("/models")
        cold = time.perf_counter() - started
        first.raise_for_status()
        warm, answer = timed(lambda: client.get("/models"))
    return cold, warm, answer.json()["total"]


CHROMIUM = "/usr/bin/chromium"  # Debian's (``make system-packages``), never a downloaded one
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@contextmanager
def chromium():
    """A headless Chromium driven by Playwright, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def browser_list(browser, base_url: str, token: str) -> tuple[float, float, int]:
    """Seconds from opening /plugin/models to its first page of rows, then for a sort by name,
    and how many rows the page shows."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        context.add_cookies([{"name": "_token", "value": token, "url": base_url}])
        page = context.new_page()
        started = time.perf_counter()
        page.goto(f"{base_url}/plugin/models")
        page.get_by_test_id("model-row").first.wait_for(timeout=120_000)
        opened = time.perf_counter() - started
        rows = page.get_by_test_id("model-row").count()
        first = page.get_by_test_id("model-row").first.get_attribute("data-model")
        started = time.perf_counter()
        page.locator('[data-sort="name"]').click()
        page.wait_for_function("name => document.querySelector('[data-testid=model-row]')"
                               ".getAttribute('data-model') !== name", arg=first, timeout=60_000)
        return opened, time.perf_counter() - started, rows
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--browser", action="store_true", help="Also time the page in Chromium.")
    parser.add_argument("--keep", action="store_true", help="Keep the throwaway home.")
    args = parser.parse_args(argv)

    from stack import airflow
    from registry.catalog import list_models
    from registry.overview import model_rows
    from bento_services.endpoints import spare_port
    from registry.settings import Settings

    with throwaway_workdir(REPO / "var" / "bench", "models-page-", keep=args.keep) as work:
        settings = Settings(home=work / "home")
        started = time.perf_counter()
        names = seed_models(settings, args.models)
        associations = seed_associations(settings, names)
        print(f"seeded {len(names)} models and {associations} associations in {time.perf_counter() - started:.0f} s",
              flush=True)
        loop_s, counted = timed(lambda: per_model_loop(settings), repeat=3)
        listed_s, listed = timed(lambda: list_models(settings))
        rows_s, rows = timed(lambda: model_rows(settings=settings))
        assert counted == len(listed) == len(rows) == len(names)
        assert all(row.key_metric for row in rows), "every row has its key metric"
        stack = airflow.start(settings, api_port=spare_port(), timeout=240)
        try:
            token = _token(stack)
            cold, warm, total = http_list(stack.base_url, token)
            assert total == len(names)
            page = None
            if args.browser:
                with chromium() as browser:
                    page = browser_list(browser, stack.base_url, token)
        finally:
            stack.stop()
    table = [("(a) per-model MLflow loop", f"{counted}", f"{loop_s:.3f}", "1.00x"),
             ("list_models", f"{len(listed)}", f"{listed_s:.3f}", f"{loop_s / listed_s:.1f}x"),
             ("model_rows (the page's rows)", f"{len(rows)}", f"{rows_s:.3f}", f"{loop_s / rows_s:.1f}x"),
             ("GET /modelyard/api/models, warm", f"{total}", f"{warm:.3f}", f"{loop_s / warm:.1f}x"),
             ("GET /modelyard/api/models, first call", f"{total}", f"{cold:.3f}", "")]
    if page is not None:
        table += [("Chromium: open /plugin/models to rows", f"{page[2]} shown", f"{page[0]:.3f}", ""),
                  ("Chromium: sort by name", f"{page[2]} shown", f"{page[1]:.3f}", "")]
    print(f"\nListing {len(names)} registered models ({associations} with an association); median of {REPEAT} "
          "warm calls, (a) of 3")
    print(format_table(("runner", "models", "seconds", "vs (a)"), table))
    return 0


def _token(stack) -> str:
    import httpx

    response = httpx.post(f"{stack.base_url}/auth/token", json={"username": stack.username, "password": stack.password})
    response.raise_for_status()
    return response.json()["access_token"]


if __name__ == "__main__":
    sys.exit(main())

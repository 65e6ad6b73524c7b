"""The API app: built on its first request, so loading the plugin costs Airflow components nothing."""

from __future__ import annotations

import threading
from pathlib import Path

URL_PREFIX = "/modelyard"
BUNDLE = Path(__file__).resolve().parents[1] / "ui" / "dist" / "models.js"
STATIC = Path(__file__).resolve().parent / "static"


def create_app():
    """The FastAPI app: the page's bundle and icons under ``/static``, the JSON API under ``/api``."""
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import FileResponse

    from modelyard_page.errors import install_error_handlers
    from modelyard_page.routes import router
    from registry.frames import python_string_storage

    python_string_storage()  # before any request thread builds a frame
    threading.Thread(target=_import_services, name="modelyard-warm-up", daemon=True).start()
    app = FastAPI(title="Modelyard models API", docs_url="/api/docs", openapi_url="/api/openapi.json")
    install_error_handlers(app)
    app.include_router(router, prefix="/api")

    @app.get("/static/models.js", include_in_schema=False)
    def bundle() -> FileResponse:
        if not BUNDLE.exists():
            raise HTTPException(503, f"the Models page is not built: run `make` ({BUNDLE} is missing)")
        return FileResponse(BUNDLE, media_type="text/javascript", headers={"Cache-Control": "no-cache"})

    @app.get("/static/{icon}.svg", include_in_schema=False)
    def icon(icon: str) -> FileResponse:
        path = STATIC / f"{icon}.svg"
        if path.parent != STATIC or not path.exists():
            raise HTTPException(404, "no such icon")
        return FileResponse(path, media_type="image/svg+xml")

    return app


def _import_services() -> None:
    """MLflow and the registry take seconds to import: start as the page's bundle is fetched, so
    its first API call does not wait for all of it."""
    import registry.overview  # noqa: F401
    import registry.store

    registry.store.mlflow_client()


class LazyApp:
    """An ASGI app that builds ``create_app()`` when the first request arrives."""

    def __init__(self, factory):
        self._factory, self._app, self._lock = factory, None, threading.Lock()

    async def __call__(self, scope, receive, send):
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._factory()
        await self._app(scope, receive, send)


lazy_app = LazyApp(create_app)

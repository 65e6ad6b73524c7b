"""Modelyard's errors as HTTP answers that name the field to blame, so the page shows them beside it."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from registry.errors import ConflictError, InvalidFieldError, InvalidReferenceError, ModelNotFoundError, ModelyardError


def status_of(error: ModelyardError) -> int:
    if isinstance(error, ModelNotFoundError):
        return 404
    if isinstance(error, ConflictError):
        return 409
    from infra.airflow_rest import AirflowApiError

    if isinstance(error, AirflowApiError):
        return 502
    if isinstance(error, (InvalidFieldError, InvalidReferenceError)) or error.field:
        return 422
    return 400


def _detail(message: str, field: str | None):
    return {"field": field, "message": message} if field else message


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ModelyardError)
    async def modelyard_error(_request: Request, error: ModelyardError) -> JSONResponse:
        return JSONResponse({"detail": _detail(str(error), error.field)}, status_code=status_of(error))

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
        location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
        field = location[0] if location else None
        message = f"{'.'.join(location) or 'request'}: {first.get('msg')}"
        return JSONResponse({"detail": _detail(message, field)}, status_code=422)

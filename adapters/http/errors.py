"""One error shape for every answer that is not a success:
`{"error": {"code": ..., "message": ..., "details": ...}}`."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from smsledger.adapters.store.refusals import UnstorableValue, refusal_message, refused_a_value
from smsledger.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    SmsledgerError,
    StoreUnavailable,
)

log = logging.getLogger("smsledger.http")

# The store could not be reached or used: 503, so Infobip (and clients) retry; but a
# value the database refuses (adapters.store.refusals) is the request's fault: 422.
STORE_ERRORS = (StoreUnavailable, PersistenceError, psycopg.Error, sqlite3.OperationalError,
                sqlite3.DataError)

# The one mapping of smsledger's errors to HTTP statuses (see smsledger.domain.errors).
_STATUS: dict[type[SmsledgerError], int] = {
    NotFound: 404, Conflict: 409, InvalidInput: 422, StoreUnavailable: 503, SmsledgerError: 500}


def _kind(error: SmsledgerError) -> type[SmsledgerError]:
    return next(kind for kind in type(error).__mro__ if kind in _STATUS)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, headers=headers,
                        content={"error": {"code": code, "message": message, "details": details}})


NOT_FOUND = ApiError(404, "not_found", "no such resource")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": ".".join(str(p) for p in err["loc"]), "problem": err["msg"]}
                    for err in exc.errors()]
        fields = ", ".join(p["field"] for p in problems)
        return error_response(422, "invalid_request", f"invalid field(s): {fields}", problems)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        # Starlette's own headers go with it: `Allow` on a 405, as RFC 9110 requires.
        return error_response(exc.status_code, code, str(exc.detail),
                              headers=dict(exc.headers or {}))

    @app.exception_handler(SmsledgerError)
    async def smsledger_error(request: Request, exc: SmsledgerError) -> JSONResponse:
        if isinstance(exc, StoreUnavailable):
            return await _store_error(request, exc)
        if isinstance(exc, NotFound):  # no more than that: another project's ids do not show
            return error_response(404, exc.code, exc.public_message)
        return error_response(_STATUS[_kind(exc)], exc.code, str(exc), exc.details)

    for error in STORE_ERRORS:
        app.add_exception_handler(error, _store_error)


async def _store_error(_: Request, exc: Exception) -> JSONResponse:
    if refused_a_value(exc):
        refused = refused_by_the_store(exc)
        return error_response(refused.status, refused.code, refused.message)
    cause = exc.__cause__ if isinstance(exc, StoreUnavailable) and exc.__cause__ else exc
    log.error("store unavailable: %s: %s", type(cause).__name__, cause)
    return error_response(503, "store_unavailable", "the store is unavailable; retry later")


def refused_by_the_store(exc: Exception) -> ApiError:
    """The answer to a database error about a value (adapters.store.refusals)."""
    log.warning("the store refused a value: %s", type(exc).__name__)
    return ApiError(422, UnstorableValue.code, refusal_message(exc))


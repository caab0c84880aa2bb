"""One error shape for every answer that is not a success:
`{"error": {"code": ..., "message": ..., "details": {...}}}`, `details` an object
whose properties are declared in schemas.ErrorDetails (each only where it applies,
e.g. `fields`: the invalid fields and why); `{}` when code and message say all."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from smsledger.adapters.http.schemas import ErrorBody, ErrorDetails, ErrorOut, FieldProblem
from smsledger.adapters.store.refusals import UnstorableValue, refusal_message, refused_a_value
from smsledger.application.errors import InvalidSendRequest
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


# What an error's `details` may be given as: the model, or a mapping of its properties.
Details = ErrorDetails | Mapping[str, Any] | None


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Details = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers


def error_body(code: str, message: str, details: Details = None) -> dict[str, Any]:
    """The one error shape, as JSON. Details given as a mapping are held to
    ErrorDetails here, so a property it does not declare fails loudly (in the tests
    that make that error), not in a client that did not expect it."""
    checked = (details if isinstance(details, ErrorDetails)
               else ErrorDetails.model_validate(details or {}))
    return ErrorOut(error=ErrorBody(code=code, message=message, details=checked)).model_dump(
        mode="json", exclude_none=True)


def error_response(status: int, code: str, message: str, details: Details = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, headers=headers,
                        content=error_body(code, message, details))


def invalid_fields(*problems: tuple[str, str]) -> ErrorDetails:
    """Details naming the invalid fields: (where, problem) pairs, e.g.
    ("body.to", "not a valid phone number")."""
    return ErrorDetails(fields=[FieldProblem(field=field, problem=problem)
                                for field, problem in problems])


NOT_FOUND = ApiError(404, "not_found", "no such resource")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [(".".join(str(p) for p in err["loc"]), str(err["msg"]))
                    for err in exc.errors()]
        fields = ", ".join(field for field, _ in problems)
        return error_response(422, "invalid_request", f"invalid field(s): {fields}",
                              invalid_fields(*problems))

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
        return error_response(_STATUS[_kind(exc)], exc.code, str(exc), _details_of(exc))

    for error in STORE_ERRORS:
        app.add_exception_handler(error, _store_error)


def _details_of(exc: SmsledgerError) -> ErrorDetails:
    """The HTTP details of an error the application raised. Its own `details` are the
    Python API's (SmsledgerError.details, any shape); the HTTP answer says what helps
    in the one shape. Over HTTP, InvalidSendRequest comes only from a request that
    sends one message (a single send, a double opt-in's confirmation; a batch answers
    each message's result), so what is invalid is the request's body."""
    if isinstance(exc, InvalidSendRequest):
        return invalid_fields(("body", exc.reason))
    return ErrorDetails()


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


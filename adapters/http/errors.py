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

from smsledger.application.ledger import ConcurrencyConflict, InvalidSendRequest, MessageNotFound
from smsledger.application.projects import ProjectExists, ProjectNotFound
from smsledger.domain.errors import DomainError

log = logging.getLogger("smsledger.http")

# The store could not be reached or used: 503, so Infobip (and clients) retry.
STORE_ERRORS = (PersistenceError, psycopg.Error, sqlite3.OperationalError, ConcurrencyConflict)


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
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(InvalidSendRequest)
    async def invalid_send(_: Request, exc: InvalidSendRequest) -> JSONResponse:
        return error_response(422, "invalid_message", str(exc),
                              {"index": exc.index, "reason": exc.reason})

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return error_response(422, "invalid_request", str(exc))

    @app.exception_handler(ProjectExists)
    async def exists(_: Request, exc: ProjectExists) -> JSONResponse:
        return error_response(409, "conflict", str(exc))

    @app.exception_handler(MessageNotFound)
    async def message_not_found(_: Request, __: MessageNotFound) -> JSONResponse:
        return error_response(404, "not_found", "no such message")

    @app.exception_handler(ProjectNotFound)
    async def project_not_found(_: Request, __: ProjectNotFound) -> JSONResponse:
        return error_response(404, "not_found", "no such resource")

    for error in STORE_ERRORS:
        app.add_exception_handler(error, _store_unavailable)


async def _store_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.error("store unavailable: %s", type(exc).__name__)
    return error_response(503, "store_unavailable", "the store is unavailable; retry later")

"""Around every request: a request id, a size limit on the body, the caller of the
client API authenticated and held to its project's rate limit, one structured log
line, and the request metrics.

Headers (Authorization included) and bodies are never logged, so tokens, webhook
secrets and API keys cannot end up in the logs. Every line logged while a request of
a project is handled carries its `project_id` (the authenticated caller's, or the
webhook's), whichever module logs it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smsledger.adapters.http.auth import authenticate
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.errors import (
    STORE_ERRORS,
    ApiError,
    error_response,
    refused_by_the_store,
)
from smsledger.adapters.store.refusals import refused_a_value

log = logging.getLogger("smsledger.http")

# The project of the request being handled, for every log line written meanwhile (the
# handlers' threads get a copy of the context, so it follows them there).
current_project: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "smsledger_project_id", default=None)


class ServiceMiddleware:
    def __init__(self, app: ASGIApp, context: ServiceContext) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(_header(scope, b"x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        status = {"code": 500}
        limit = self.context.max_body_bytes
        rate_headers: list[tuple[bytes, bytes]] = []

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode()), *rate_headers]
            await send(message)

        declared = _header(scope, b"content-length")
        denied = await self._authenticate(scope)
        project = _project_of(scope)
        project_set = current_project.set(project)
        if denied is None:
            denied = self._within_rate_limit(scope, rate_headers)
        body = None if declared and declared.isdigit() and int(declared) > limit else (
            await _read_body(receive, limit))
        if denied is not None:
            # Credentials are checked before the body is read or parsed: an unknown
            # caller learns nothing about what a valid body would be.
            scope["state"]["route_label"] = "refused before routing"
            await error_response(denied.status, denied.code, denied.message, denied.details,
                                 denied.headers)(scope, receive, send_with_id)
        elif body is None:
            await _too_large(send_with_id, limit)
        else:
            replayed = False

            async def replay() -> Message:
                # The app reads the body we already hold; after it, the client's
                # disconnect (or whatever comes next) passes through.
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send_with_id)
        self._record(scope, request_id, project, status["code"], time.perf_counter() - started)
        current_project.reset(project_set)

    async def _authenticate(self, scope: Scope) -> ApiError | None:
        """For the client API (/v1/projects/{project}/...): the caller, kept in the
        request state, or the error to answer."""
        parts = scope["path"].split("/")
        if len(parts) < 4 or parts[1:3] != ["v1", "projects"]:
            return None
        try:
            principal = await run_in_threadpool(
                authenticate, self.context.projects, _header(scope, b"authorization"), parts[3])
        except ApiError as error:
            return error
        except STORE_ERRORS as error:
            if refused_a_value(error):
                return refused_by_the_store(error)
            log.error("store unavailable while authenticating")
            return ApiError(503, "store_unavailable", "the store is unavailable; retry later")
        scope["state"]["principal"] = principal
        return None

    def _within_rate_limit(self, scope: Scope, answer_headers: list[tuple[bytes, bytes]]
                           ) -> ApiError | None:
        """For an authenticated client-API request, when the service is rate-limited
        (adapters/http/rate_limit.py): a token of its project's bucket, the RateLimit
        headers added to `answer_headers`, or the 429 to answer."""
        limiter = self.context.rate_limiter
        principal = scope["state"].get("principal")
        if limiter is None or principal is None:
            return None
        decision = limiter.take(principal.project_id)
        if decision.allowed:
            answer_headers.extend((name.lower().encode(), value.encode())
                                  for name, value in decision.headers().items())
            return None
        self.context.metrics.rate_limited.inc()
        return ApiError(
            429, "rate_limited",
            f"the project sent more than its {limiter.per_second:g} requests per second; "
            f"retry after {decision.retry_after} s",
            {"limit_per_second": limiter.per_second, "retry_after": decision.retry_after},
            headers=decision.headers())

    def _record(self, scope: Scope, request_id: str, project: str | None, status: int,
                seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or scope["state"].get(
            "route_label", "unmatched")
        self.context.metrics.requests.labels(scope["method"], route, str(status)).inc()
        self.context.metrics.latency.labels(route).observe(seconds)
        fields = {"request_id": request_id, "method": scope["method"], "path": scope["path"],
                  "route": route, "status": status, "duration_ms": round(seconds * 1000, 2)}
        if project is not None:
            fields["project_id"] = project
        log.info("request", extra={"fields": fields})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it passes `limit` bytes (whatever
    Content-Length said, chunked bodies included). Bodies are small by design (a
    callback of 2,000 reports is about 1.5 MB), so holding one is cheap, and the app
    never sees half of a body it must refuse."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"error": {"code": "payload_too_large",
                                 "message": f"the body is larger than {limit} bytes",
                                 "details": {"max_body_bytes": limit}}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _request_id(given: str | None) -> str:
    """The caller's request id when it is a sane token (it goes into logs), else a new one."""
    if given and len(given) <= 128 and all(c.isalnum() or c in "-_.:" for c in given):
        return given
    return uuid.uuid4().hex


def _project_of(scope: Scope) -> str | None:
    """The project a request is about: the authenticated caller's (client API; an
    unauthenticated caller's claim is not taken), or the one a webhook path names
    (the path Infobip was given, logged with the request anyway)."""
    principal = scope["state"].get("principal")
    if principal is not None:
        project: str = principal.project_id
        return project
    parts = scope["path"].split("/")
    if len(parts) > 4 and parts[1:4] == ["v1", "webhooks", "infobip"] and parts[4]:
        named: str = parts[4]
        return named
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the process's own fields
    (a worker's number) and the record's fields."""

    def __init__(self, fields: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.fields = fields or {}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage(), **self.fields, **getattr(record, "fields", {}),
        }
        if "project_id" not in entry and (project := current_project.get()) is not None:
            entry["project_id"] = project
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_json_logging(level: int | str = logging.INFO, **fields: Any) -> None:
    """JSON lines on stderr from `level` up (a number, or a name: "DEBUG", the setting
    log_level); `fields` go into every line (e.g. worker=2)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLineFormatter(fields))
    logging.Formatter.converter = time.gmtime
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO; keep the service's log about the service.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True

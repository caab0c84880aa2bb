"""Around every request: a request id, a size limit on the body, one structured
log line, and the request metrics.

Headers (Authorization included) and bodies are never logged, so tokens, webhook
secrets and API keys cannot end up in the logs.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.http.context import ServiceContext

log = logging.getLogger("smsledger.http")


class BodyTooLarge(Exception):
    pass


class ServiceMiddleware:
    def __init__(self, app: ASGIApp, context: ServiceContext) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = {"code": 500}
        limit = self.context.max_body_bytes

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            await _too_large(send_with_id, limit)
        else:
            received = 0

            async def counting_receive() -> Message:
                nonlocal received
                message = await receive()
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
                return message

            try:
                await self.app(scope, counting_receive, send_with_id)
            except BodyTooLarge:
                await _too_large(send_with_id, limit)
        self._record(scope, request_id, status["code"], time.perf_counter() - started)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        self.context.metrics.requests.labels(scope["method"], route, str(status)).inc()
        self.context.metrics.latency.labels(route).observe(seconds)
        log.info("request", extra={"fields": {
            "request_id": request_id, "method": scope["method"], "path": scope["path"],
            "route": route, "status": status, "duration_ms": round(seconds * 1000, 2)}})


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"error": {"code": "payload_too_large",
                                 "message": f"the body is larger than {limit} bytes",
                                 "details": {"max_body_bytes": limit}}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage(), **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_json_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLineFormatter())
    logging.Formatter.converter = time.gmtime
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO; keep the service's log about the service.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True

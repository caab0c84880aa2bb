"""Health and metrics, for load balancers and Prometheus."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from smsledger.adapters.http.errors import STORE_ERRORS, error_response
from smsledger.adapters.http.schemas import ErrorOut
from smsledger.adapters.http.context import context_of

router = APIRouter(tags=["Operations"])


class HealthOut(BaseModel):
    status: Literal["ok"]


@router.get("/healthz", summary="200 when the store answers, 503 when it does not",
            responses={200: {"model": HealthOut},
                       503: {"model": ErrorOut, "description": "the store does not answer"}})
def get_health(request: Request) -> JSONResponse:
    try:
        context_of(request).channel.check_store()
    except STORE_ERRORS:
        return error_response(503, "store_unavailable", "the store does not answer")
    return JSONResponse({"status": "ok"})


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format"}})
def get_metrics(request: Request) -> Response:
    context = context_of(request)
    try:
        context.metrics.record_lag(context.channel.projection_lag())
    except STORE_ERRORS:  # the counters still answer; /healthz says the store is down
        pass
    return Response(context.metrics.render(), media_type=CONTENT_TYPE_LATEST)

"""Health, readiness and metrics, for supervisors, load balancers and Prometheus.

/healthz says the process answers (liveness: restart it when it does not); it never
touches the store, so a database outage does not get every instance restarted at
once. /readyz says the store answers within a second and has its tables (readiness:
send it traffic only then)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from smsledger.adapters.http.errors import STORE_ERRORS, error_response
from smsledger.adapters.http.schemas import ErrorOut
from smsledger.adapters.http.context import context_of
from smsledger.adapters.store.health import TablesMissing

router = APIRouter(tags=["Operations"])


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready"]


@router.get("/healthz", summary="200 while the process answers (liveness; the store is "
                                "not asked: see /readyz)",
            responses={200: {"model": HealthOut}})
async def get_health() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="200 when the store answers within a second and has its "
                               "tables (readiness), 503 when not",
            responses={200: {"model": ReadyOut},
                       503: {"model": ErrorOut, "description": "store_unavailable: the store "
                             "does not answer; store_not_ready: it answers without its "
                             "tables"}})
def get_ready(request: Request) -> JSONResponse:
    try:
        context_of(request).channel.check_ready()
    except TablesMissing as error:
        return error_response(503, "store_not_ready", str(error))
    except STORE_ERRORS:
        return error_response(503, "store_unavailable", "the store does not answer")
    return JSONResponse({"status": "ready"})


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format"}})
def get_metrics(request: Request) -> Response:
    context = context_of(request)
    return Response(context.metrics.scrape(context.channel.projection_lag),
                    media_type=CONTENT_TYPE_LATEST)

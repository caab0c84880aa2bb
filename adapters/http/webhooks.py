"""Infobip's webhooks: delivery reports and inbound SMS, stored before we answer.

Authenticated with HTTP Basic (user = integration id, password = the integration's
webhook secret). 2xx only once the reports are durably stored; 503 when the store
is unavailable, so that Infobip retries; 400 for a body we cannot read at all (the
reason in the answer); bad items inside a good body (a NUL, a lone surrogate, an
integer beyond 64 bits, absurd sizes, a shape we do not know) are quarantined with
the reason, not dropped, and the rest is stored. A value the database still refuses
is 422 (smsledger.adapters.store.refusals), never 503: retrying it would not help.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, Request, Security
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from smsledger.adapters.http.auth import BASIC, basic_credentials
from smsledger.adapters.http.errors import ApiError
from smsledger.adapters.http.schemas import ERRORS
from smsledger.adapters.http.context import context_of
from smsledger.adapters.infobip.callbacks import InvalidCallback

T = TypeVar("T")

router = APIRouter(prefix="/v1/webhooks/infobip", tags=["Infobip webhooks"], responses=ERRORS,
                   dependencies=[Security(BASIC)])

UNAUTHORIZED = ApiError(401, "unauthorized", "valid webhook credentials required",
                        headers={"WWW-Authenticate": 'Basic realm="smsledger"'})


def _authenticate(request: Request, project_id: str, integration_id: str) -> None:
    given = basic_credentials(request.headers.get("authorization"))
    projects = context_of(request).projects
    if given is None or given[0] != integration_id or not projects.verify_webhook(
            project_id, integration_id, given[1]):
        raise UNAUTHORIZED


async def _ingest(request: Request, project_id: str, integration_id: str,
                  ingest: Callable[[bytes], T]) -> T:
    """Credentials first, then the body, given to the channel as Infobip sent it: 400
    with the reason when it is unreadable. The store is blocking I/O, kept off the
    event loop; a store error becomes a 503 (smsledger.adapters.http.errors), so
    Infobip retries."""
    await run_in_threadpool(_authenticate, request, project_id, integration_id)
    body = await request.body()
    try:
        return await run_in_threadpool(ingest, body)
    except InvalidCallback as exc:
        raise ApiError(400, "invalid_callback", str(exc)) from None


class DeliveryReportsOut(BaseModel):
    """What became of the callback's reports, all of them stored."""

    applied: int = Field(ge=0, description="changed a message's status")
    noted: int = Field(ge=0, description="recorded without a status change (pending, "
                                         "duplicate, ...)")
    parked: int = Field(ge=0, description="for messages not known (yet): kept, applied when "
                                          "they are")
    quarantined: int = Field(ge=0, description="unreadable: kept with the reason")


class InboundOut(BaseModel):
    received: int = Field(ge=0, description="new replies, stored")
    duplicates: int = Field(ge=0, description="replies stored before (Infobip repeated them)")
    quarantined: int = Field(ge=0, description="unreadable: kept with the reason")


@router.post("/{project_id}/{integration_id}/delivery-reports",
             response_model=DeliveryReportsOut, summary="Delivery reports pushed by Infobip")
async def receive_delivery_reports(project_id: str, integration_id: str,
                                   request: Request) -> DeliveryReportsOut:
    context = context_of(request)
    result = await _ingest(request, project_id, integration_id, lambda body: (
        context.channel.ingest_delivery_reports(project_id, body)))
    context.metrics.record_reports(result)
    return DeliveryReportsOut(applied=result.applied, noted=result.noted, parked=result.parked,
                              quarantined=result.quarantined)


@router.post("/{project_id}/{integration_id}/inbound", response_model=InboundOut,
             summary="Inbound SMS pushed by Infobip")
async def receive_inbound(project_id: str, integration_id: str,
                          request: Request) -> InboundOut:
    context = context_of(request)
    result = await _ingest(request, project_id, integration_id, lambda body: (
        context.channel.ingest_inbound(project_id, integration_id, body)))
    context.metrics.record_inbound(result)
    return InboundOut(received=result.applied, duplicates=result.noted,
                      quarantined=result.quarantined)

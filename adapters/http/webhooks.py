"""Infobip's webhooks: delivery reports in, stored before we answer.

2xx only once the reports are durably stored; 5xx when they could not be, so
Infobip retries; 400 for a body we cannot read at all (the reason in the answer);
bad items inside a good body are quarantined, not dropped.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from adapters.http.errors import error_response
from adapters.http.webhook_auth import WebhookCredentials, basic_credentials
from adapters.infobip.callbacks import InvalidCallback, parse_delivery_reports
from application.ledger import SmsLedger

log = logging.getLogger("smsledger.webhooks")


def webhook_router(ledger: SmsLedger, credentials: WebhookCredentials) -> APIRouter:
    router = APIRouter(prefix="/v1/webhooks/infobip", tags=["Infobip webhooks"])

    @router.post("/{project_id}/{integration_id}/delivery-reports",
                 summary="Infobip delivery reports (HTTP Basic: integration id, webhook secret)")
    async def delivery_reports(project_id: str, integration_id: str,
                               request: Request) -> Response:
        given = basic_credentials(request.headers.get("authorization"))
        if given is None or given[0] != integration_id or not credentials.verify(
                project_id, integration_id, given[1]):
            return error_response(401, "unauthorized", "valid webhook credentials required",
                                  headers={"WWW-Authenticate": 'Basic realm="smsledger"'})
        try:
            parsed = parse_delivery_reports(await request.body())
        except InvalidCallback as exc:
            return error_response(400, "invalid_callback", str(exc))
        try:
            # The store is blocking I/O: keep it off the event loop.
            result = await run_in_threadpool(
                ledger.record_reports, project_id, parsed.reports, parsed.malformed)
        except Exception:
            log.exception("delivery reports not stored; answering 503 so Infobip retries")
            return error_response(503, "store_unavailable", "reports not stored; retry later")
        return JSONResponse({"applied": result.applied, "noted": result.noted,
                             "parked": result.parked, "quarantined": result.quarantined})

    return router

"""The ASGI application: built from an SmsLedger and the adapters it needs."""

from __future__ import annotations

from fastapi import FastAPI

from adapters.http.webhook_auth import WebhookCredentials
from adapters.http.webhooks import webhook_router
from application.ledger import SmsLedger


def create_app(ledger: SmsLedger, credentials: WebhookCredentials) -> FastAPI:
    app = FastAPI(title="smsledger", version="1",
                  description="SMS/MMS delivery tracking for Infobip, event-sourced.")
    app.include_router(webhook_router(ledger, credentials))
    return app

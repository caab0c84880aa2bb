"""The ASGI application: the client API, Infobip's webhooks, health and metrics."""

from __future__ import annotations

from fastapi import FastAPI

from smsledger.adapters.http import messages, operations, projects, two_way, webhooks
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.errors import install_error_handlers
from smsledger.adapters.http.middleware import ServiceMiddleware


def create_app(context: ServiceContext) -> FastAPI:
    app = FastAPI(
        title="smsledger", version="1",
        description="SMS/MMS delivery tracking for Infobip, event-sourced. Client endpoints "
                    "take `Authorization: Bearer <token>`; Infobip's webhooks take HTTP Basic "
                    "(integration id, webhook secret).")
    app.state.context = context
    install_error_handlers(app)
    for module in (projects, messages, two_way, webhooks, operations):
        app.include_router(module.router)
    app.add_middleware(ServiceMiddleware, context=context)
    return app

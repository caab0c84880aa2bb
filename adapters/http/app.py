"""The ASGI application: the client API, Infobip's webhooks, health and metrics."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

from smsledger.adapters.http import (messages, operations, projects, reports, subscriptions,
                                     two_way, webhooks)
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.errors import install_error_handlers
from smsledger.adapters.http.middleware import ServiceMiddleware
from smsledger.adapters.http.rate_limit import RATE_LIMITED_RESPONSES, is_client_api


def operation_id(route: APIRoute) -> str:
    """An operation's id is its function's name (send_message, list_events, ...): short
    snake_case verbs, which a generated client names its methods by. A route may still
    set `operation_id=` itself; tests/service/test_openapi.py holds them unique."""
    return route.name


def create_app(context: ServiceContext) -> FastAPI:
    app = FastAPI(
        title="smsledger", version="1", generate_unique_id_function=operation_id,
        description="SMS/MMS delivery tracking for Infobip, event-sourced. Client endpoints "
                    "take `Authorization: Bearer <token>`; Infobip's webhooks take HTTP Basic "
                    "(integration id, webhook secret).")
    app.state.context = context
    install_error_handlers(app)
    for module in (projects, messages, reports, two_way, subscriptions, webhooks, operations):
        # The client API's operations may answer 429 (the middleware limits them).
        limited = is_client_api(module.router.prefix + "/")
        app.include_router(module.router, responses=RATE_LIMITED_RESPONSES if limited else None)
    app.add_middleware(ServiceMiddleware, context=context)
    return app

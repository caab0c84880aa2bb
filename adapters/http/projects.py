"""Project settings over HTTP: integrations, default SMS provider, event-name mapping,
API tokens. Changes need an admin token and are recorded with the token's id."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from smsledger.adapters.http.auth import admin, caller
from smsledger.adapters.http.context import ServiceContext, context_of
from smsledger.adapters.http.errors import ApiError, invalid_fields
from smsledger.adapters.http.schemas import (
    ERRORS,
    PLAIN_ID,
    EventMappingIn,
    EventMappingOut,
    IntegrationIn,
    IntegrationOut,
    IntegrationsOut,
    SmsChannelIn,
    SmsChannelOut,
    Timestamp,
    WebhooksOut,
)
from smsledger.application.projects import Principal
from smsledger.domain.project import Integration, UnknownIntegration

router = APIRouter(prefix="/v1/projects/{project_id}", tags=["Project settings"],
                   responses=ERRORS)


def _out(context: ServiceContext, project_id: str, integration: Integration,
         secret: str | None = None) -> IntegrationOut:
    return IntegrationOut(
        integration_id=integration.integration_id, base_url=integration.base_url,
        api_key=context.projects.masked_api_key(project_id, integration),
        senders=list(integration.senders),
        default_sender=integration.default_sender,
        webhooks=WebhooksOut(
            delivery_reports=context.webhook_url(project_id, integration.integration_id,
                                                 "delivery-reports"),
            inbound=context.webhook_url(project_id, integration.integration_id, "inbound"),
            username=integration.integration_id, secret=secret))


# Stated in the document; the domain checks it (validate_id) and says what is wrong.
IntegrationId = Annotated[str, Path(description="the integration's id, e.g. infobip",
                                    **PLAIN_ID)]


@router.put("/integrations/{integration_id}", response_model=IntegrationOut,
            summary="Add or change an Infobip integration (admin)")
def put_integration(project_id: str, integration_id: IntegrationId, body: IntegrationIn,
                    request: Request, who: Principal = Depends(admin)) -> IntegrationOut:
    context: ServiceContext = context_of(request)
    integration, secret = context.projects.configure_integration(
        project_id, integration_id, base_url=body.base_url, api_key=body.api_key,
        senders=body.senders, default_sender=body.default_sender,
        rotate_webhook_secret=body.rotate_webhook_secret, changed_by=who.token_id)
    return _out(context, project_id, integration, secret)


@router.get("/integrations", response_model=IntegrationsOut,
            summary="The project's integrations, API keys masked")
def list_integrations(project_id: str, request: Request,
                      _: Principal = Depends(caller)) -> IntegrationsOut:
    context: ServiceContext = context_of(request)
    settings = context.projects.settings(project_id)
    return IntegrationsOut(
        integrations=[_out(context, project_id, i) for i in settings.integrations.values()],
        default_provider=settings.default_provider)


@router.put("/channels/sms", response_model=SmsChannelOut,
            summary="Choose the default SMS provider (admin)")
def put_sms_channel(project_id: str, body: SmsChannelIn, request: Request,
                    who: Principal = Depends(admin)) -> SmsChannelOut:
    try:
        context_of(request).projects.choose_default_provider(
            project_id, body.default_provider, changed_by=who.token_id)
    except UnknownIntegration as exc:
        raise ApiError(422, "invalid_request", "invalid field(s): body.default_provider",
                       invalid_fields(("body.default_provider", str(exc)))) from None
    return SmsChannelOut(default_provider=body.default_provider)


@router.put("/campaign-event-mapping", response_model=EventMappingOut,
            summary="Rename the 'campaign' event (admin)")
def put_campaign_event_mapping(project_id: str, body: EventMappingIn, request: Request,
                               who: Principal = Depends(admin)) -> EventMappingOut:
    context_of(request).projects.rename_campaign_event(
        project_id, body.campaign, changed_by=who.token_id)
    return EventMappingOut(campaign=body.campaign)


class SettingsChangeOut(BaseModel):
    """One change of the project's settings: its kind and time, and the change's own
    fields (which differ by kind: `changed_by`, the token or 'cli' that made it, on all
    but the project's start), secrets and keys left out."""

    # Kept, not dropped: the fields are each kind of change's own (domain.project).
    model_config = ConfigDict(extra="allow")

    event: str = Field(examples=["IntegrationConfigured"])
    timestamp: Timestamp


class SettingsHistoryOut(BaseModel):
    history: list[SettingsChangeOut] = Field(description="oldest first")


@router.get("/settings/history", response_model=SettingsHistoryOut,
            summary="What changed in the settings, when, by which token")
def get_settings_history(project_id: str, request: Request,
                         _: Principal = Depends(caller)) -> SettingsHistoryOut:
    history = context_of(request).projects.history(project_id)
    return SettingsHistoryOut(history=[SettingsChangeOut(**change) for change in history])


# --- API tokens ---------------------------------------------------------------------

class TokenOut(BaseModel):
    token_id: str
    role: Literal["admin", "member"]  # domain.project.ROLES
    token: str = Field(description="the token's public prefix; its secret is never shown",
                       examples=["sml_acme.3f2a1b9c0d4e.****"])
    issued_at: datetime
    issued_by: str = Field(description="the id of the token (or 'cli') that issued it")
    revoked_at: datetime | None
    revoked_by: str | None


class TokensOut(BaseModel):
    tokens: list[TokenOut]


@router.get("/tokens", response_model=TokensOut,
            summary="The project's API tokens, secrets never shown (admin)")
def list_tokens(project_id: str, request: Request,
                _: Principal = Depends(admin)) -> TokensOut:
    tokens = context_of(request).projects.tokens(project_id)
    return TokensOut(tokens=[TokenOut(**token) for token in tokens])


@router.delete("/tokens/{token_id}", response_model=TokenOut,
               summary="Revoke an API token: refused from the next request on (admin)")
def revoke_token(project_id: str, token_id: str, request: Request,
                 who: Principal = Depends(admin)) -> TokenOut:
    return TokenOut(**context_of(request).projects.revoke_token(
        project_id, token_id, changed_by=who.token_id))

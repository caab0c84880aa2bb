"""Two-way SMS over HTTP: consent, double opt-in, keywords, numbers, NPS surveys."""

from __future__ import annotations

from typing import Any

from datetime import timedelta

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from smsledger.adapters.http.auth import admin, caller
from smsledger.adapters.http.schemas import ERRORS, Strict
from smsledger.adapters.http.context import context_of
from smsledger.application.projects import Principal

router = APIRouter(prefix="/v1/projects/{project_id}", tags=["Two-way SMS"], responses=ERRORS)


class ConsentIn(Strict):
    granted: bool
    customer_id: str | None = None


class DoubleOptInIn(Strict):
    customer_id: str = Field(min_length=1, max_length=200)
    text: str | None = Field(default=None, description="the confirmation SMS; a default asks "
                                                       "for YES")
    valid_for_hours: float = Field(default=24, gt=0, le=24 * 30)


class KeywordIn(Strict):
    action: str = Field(description="revoke, grant or none")
    category: str = "sms_marketing"
    answer: str | None = Field(default=None, description="sent back automatically")


class NpsIn(Strict):
    survey: bool = True


@router.get("/consents/{number}", summary="A number's consent to a category")
def get_consent(project_id: str, number: str, request: Request,
                category: str = Query("sms_marketing"), _: Principal = Depends(caller)) -> dict[str, Any]:
    return context_of(request).channel.consent(project_id, number, category).to_dict()


@router.put("/consents/{number}/{category}", summary="Grant or revoke consent (source: api)")
def put_consent(project_id: str, number: str, category: str, body: ConsentIn, request: Request,
                _: Principal = Depends(caller)) -> dict[str, Any]:
    channel = context_of(request).channel
    change = channel.grant_consent if body.granted else channel.revoke_consent
    return change(project_id, number, category, customer_id=body.customer_id).to_dict()


@router.post("/consents/{number}/{category}/double-opt-in", status_code=202,
             summary="Send a confirmation SMS; a YES in time grants the consent")
def double_opt_in(project_id: str, number: str, category: str, body: DoubleOptInIn,
                  request: Request, _: Principal = Depends(caller)) -> dict[str, Any]:
    return context_of(request).channel.request_double_opt_in(
        project_id, number, category, customer_id=body.customer_id, text=body.text,
        valid_for=timedelta(hours=body.valid_for_hours)).to_dict()


@router.get("/keywords", summary="Keyword auto-responses")
def get_keywords(project_id: str, request: Request, _: Principal = Depends(caller)) -> dict[str, Any]:
    return {"keywords": context_of(request).projects.keywords(project_id)}


@router.put("/keywords/{keyword}", summary="Add or change a keyword (admin)")
def put_keyword(project_id: str, keyword: str, body: KeywordIn, request: Request,
                who: Principal = Depends(admin)) -> dict[str, Any]:
    projects = context_of(request).projects
    projects.configure_keyword(project_id, keyword, action=body.action, category=body.category,
                               answer=body.answer, changed_by=who.token_id)
    return {"keywords": projects.keywords(project_id)}


@router.delete("/keywords/{keyword}", summary="Remove a keyword (admin)")
def delete_keyword(project_id: str, keyword: str, request: Request,
                   who: Principal = Depends(admin)) -> dict[str, Any]:
    projects = context_of(request).projects
    projects.remove_keyword(project_id, keyword, changed_by=who.token_id)
    return {"keywords": projects.keywords(project_id)}


@router.get("/numbers/{number}", summary="Whether a number is marked invalid")
def get_number(project_id: str, number: str, request: Request,
               _: Principal = Depends(caller)) -> dict[str, Any]:
    return context_of(request).channel.number_status(project_id, number)


@router.post("/numbers/{number}/revalidate", summary="Allow sends to a number marked invalid")
def revalidate(project_id: str, number: str, request: Request,
               who: Principal = Depends(caller)) -> dict[str, Any]:
    return context_of(request).channel.revalidate_number(project_id, number,
                                                              changed_by=who.token_id)


@router.put("/campaigns/{campaign_id}/nps", summary="Mark a campaign as an NPS survey (admin)")
def put_nps(project_id: str, campaign_id: str, body: NpsIn, request: Request,
            who: Principal = Depends(admin)) -> dict[str, Any]:
    context_of(request).projects.mark_nps_survey(project_id, campaign_id, body.survey,
                                                       changed_by=who.token_id)
    return {"campaign_id": campaign_id, "survey": body.survey}

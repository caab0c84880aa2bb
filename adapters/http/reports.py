"""The campaign report page, served: the HTML `smsledger report` writes, for people.

GET /v1/projects/{project_id}/campaigns/{campaign_id}/report takes the bearer token
as every client call does, and answers the page (text/html) or the one error
shape (404 for a campaign nobody sent, or one of another project). Its timeline
section searches by message id (`?message=`) or phone number (`?number=`): a plain
GET form back to the page, no script; a search that finds nothing is said on the
page. The error rows link to `?message=ID`. The page loads nothing else: its
Content Security Policy says so as well.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from smsledger.adapters.http.auth import caller
from smsledger.adapters.http.context import context_of
from smsledger.adapters.http.schemas import ERRORS
from smsledger.adapters.report import Search, render_report
from smsledger.adapters.report.page import CONTENT_SECURITY_POLICY
from smsledger.application.errors import MessageNotFound
from smsledger.application.projects import Principal
from smsledger.application.views import MessageView
from smsledger.domain.errors import InvalidPhoneNumber
from smsledger.domain.phone import PhoneNumber

router = APIRouter(prefix="/v1/projects/{project_id}", tags=["Reports"], responses=ERRORS)

MAX_TIMELINES = 10  # a number's messages shown at once: the newest are the last ones


@router.get(
    # Response, not HTMLResponse, as the route's class: FastAPI documents the declared
    # error answers in the route's media type, and they are JSON (the one error shape).
    "/campaigns/{campaign_id}/report", response_class=Response,
    summary="The campaign's report page (HTML): funnel, reports over time, error reasons, "
            "countries, parts and cost, replies, drift check, message timelines",
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                     "description": "one self-contained HTML page (inline style and SVG)"}})
def get_campaign_report(
        project_id: str, campaign_id: str, request: Request,
        message: str = Query("", max_length=128,
                             description="show this message's timeline (its id)"),
        number: str = Query("", max_length=40,
                            description="show the timelines of the campaign's messages to "
                                        "this phone number (international format)"),
        _: Principal = Depends(caller)) -> HTMLResponse:
    channel = context_of(request).channel
    message, number = message.strip(), number.strip()
    notice = None
    recipient = None
    if number:
        try:
            recipient = PhoneNumber.parse(number).e164
        except InvalidPhoneNumber as exc:
            notice = str(exc)
    report = channel.campaign_report(project_id, campaign_id, recipient=recipient)
    wanted = ([message] if message else []) + report.number_matches[-MAX_TIMELINES:]
    timelines: list[MessageView] = []
    for message_id in dict.fromkeys(wanted):
        try:
            view = channel.message(project_id, message_id)
        except MessageNotFound:
            view = None
        if view is None or view.campaign_id != campaign_id:
            notice = f"no message {message_id!r} in campaign {campaign_id!r}"
        else:
            timelines.append(view)
    if recipient and not report.number_matches:
        notice = f"no message of campaign {campaign_id!r} went to {recipient}"
    page = render_report(
        report, timelines, search=Search(message=message, number=number, notice=notice),
        message_href=lambda m: "?" + urlencode({"message": m}) + f"#message-{m}")
    return HTMLResponse(page, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                                       "Cache-Control": "no-store"})

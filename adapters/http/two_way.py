"""Two-way SMS over HTTP: consent, double opt-in, keywords, numbers, NPS surveys."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from smsledger.adapters.http.auth import admin, caller
from smsledger.adapters.http.schemas import ERRORS, PHONE_PATTERN, Strict, Timestamp
from smsledger.adapters.http.context import context_of
from smsledger.application.projects import Principal
from smsledger.domain.consent import CATEGORY_MAX_LENGTH, CATEGORY_PATTERN, ConsentStatus
from smsledger.domain.replies import KEYWORD_MAX_LENGTH, KEYWORD_PATTERN, KeywordAction

router = APIRouter(prefix="/v1/projects/{project_id}", tags=["Two-way SMS"], responses=ERRORS)

# Path parameters state the constraints the domain applies, so a request the OpenAPI
# document allows is not refused for its shape (tests/service/test_openapi_parameters.py
# holds them to the domain's rules).
#
# The category and keyword patterns are the domain's own (Python `re`, where \w is every
# letter and digit str.isalnum() knows). They are stated in the document, and the domain
# enforces them: Path(pattern=) would have pydantic-core check them with Rust's regex,
# whose \w differs ("²" is a digit to Python, not to Rust), refusing what the domain
# takes. An ECMA-262 reader sees \w as ASCII: a subset, still all accepted.
#
# A phone number as PhoneNumber.parse takes it: international format, the '+' optional
# (Infobip writes none), digits perhaps grouped by single spaces or dashes; 6 to 19
# digits, the range of valid numbers in libphonenumber's metadata. Whether the number
# exists in its country's plan is more than a pattern can say: that is still a 422.
# (PHONE_PATTERN lives in schemas.py: a message's `to` states it too.)
Number = Annotated[str, Path(
    pattern=PHONE_PATTERN, min_length=6, max_length=38, examples=["+385921234567"],
    description="the customer's phone number in international format, '+' optional")]
CATEGORY_RULES: dict[str, Any] = {
    "min_length": 1, "max_length": CATEGORY_MAX_LENGTH,
    "json_schema_extra": {"pattern": f"^{CATEGORY_PATTERN}$"},
    "description": "consent category: 1-64 letters, digits, '_' or '-', at least one letter "
                   "or digit"}
Category = Annotated[str, Path(examples=["sms_marketing"], **CATEGORY_RULES)]
Keyword = Annotated[str, Path(
    min_length=1, max_length=KEYWORD_MAX_LENGTH, examples=["STOP"],
    json_schema_extra={"pattern": f"^{KEYWORD_PATTERN}$"},
    description="one word of 1-32 letters or digits, any case")]


class ConsentIn(Strict):
    granted: bool
    customer_id: str | None = None


class DoubleOptInIn(Strict):
    customer_id: str = Field(min_length=1, max_length=200)
    text: str | None = Field(default=None, description="the confirmation SMS; a default asks "
                                                       "for YES")
    valid_for_hours: float = Field(default=24, gt=0, le=24 * 30)
    # Checked by the ledger, not here, so a wrong sender gets an answer naming the problem.
    sender: str | None = Field(
        default=None, min_length=1, max_length=20,
        description="one of the default integration's senders, numeric (a phone number or "
                    "short code) so the customer's YES can reach it; an alphanumeric sender "
                    "is refused (422 sender_cannot_receive_replies). Default: the default "
                    "sender if numeric, else the integration's first numeric sender (none: "
                    "422 no_numeric_sender)")


class KeywordIn(Strict):
    # The domain's words; checked by the domain (configure_keyword), which names them all.
    action: str = Field(description="revoke or grant (the category's consent), confirm (only "
                                    "the double opt-ins the number waits on) or none",
                        json_schema_extra={"enum": [a.value for a in KeywordAction]})
    category: str = Field(default="sms_marketing", min_length=1,
                          max_length=CATEGORY_MAX_LENGTH,
                          json_schema_extra={"pattern": f"^{CATEGORY_PATTERN}$"})
    answer: str | None = Field(default=None, description="sent back automatically; 1-1600 "
                                                         "characters",
                               json_schema_extra={"minLength": 1, "maxLength": 1600})


class NpsIn(Strict):
    survey: bool = True


# --- answers ----------------------------------------------------------------------------

class ConsentOut(BaseModel):
    number: str = Field(description="E.164", examples=["+385921234567"])
    category: str
    status: ConsentStatus
    expires_at: Timestamp | None = Field(description="while a double opt-in awaits its YES")


class KeywordOut(BaseModel):
    keyword: str
    action: KeywordAction
    category: str
    answer: str | None


class KeywordsOut(BaseModel):
    keywords: list[KeywordOut] = Field(description="in alphabetical order")


class NumberStatusOut(BaseModel):
    number: str = Field(description="E.164", examples=["+385921234567"])
    invalid: bool = Field(description="a permanent delivery error marked it; sends to it "
                                      "are refused (409 number_invalid) until revalidated")
    reason: str | None = Field(description="the error that marked it")


class NpsSurveyOut(BaseModel):
    campaign_id: str
    survey: bool


@router.get("/consents/{number}", response_model=ConsentOut,
            summary="A number's consent to a category (query parameter, default "
                    "sms_marketing)")
def get_consent_by_query(project_id: str, number: Number, request: Request,
                         category: Annotated[str, Query(**CATEGORY_RULES)] = "sms_marketing",
                         _: Principal = Depends(caller)) -> ConsentOut:
    return ConsentOut(**context_of(request).channel.consent(project_id, number,
                                                            category).to_dict())


@router.get("/consents/{number}/{category}", response_model=ConsentOut,
            summary="A number's consent to a category")
def get_consent(project_id: str, number: Number, category: Category, request: Request,
                _: Principal = Depends(caller)) -> ConsentOut:
    return ConsentOut(**context_of(request).channel.consent(project_id, number,
                                                            category).to_dict())


@router.put("/consents/{number}/{category}", response_model=ConsentOut,
            summary="Grant or revoke consent (source: api) (admin)")
def put_consent(project_id: str, number: Number, category: Category, body: ConsentIn,
                request: Request, _: Principal = Depends(admin)) -> ConsentOut:
    channel = context_of(request).channel
    change = channel.grant_consent if body.granted else channel.revoke_consent
    return ConsentOut(**change(project_id, number, category,
                               customer_id=body.customer_id).to_dict())


@router.post("/consents/{number}/{category}/double-opt-in", status_code=202,
             response_model=ConsentOut,
             summary="Send a confirmation SMS from a numeric sender; a YES in time grants "
                     "the consent")
def request_double_opt_in(project_id: str, number: Number, category: Category,
                          body: DoubleOptInIn, request: Request,
                          _: Principal = Depends(caller)) -> ConsentOut:
    return ConsentOut(**context_of(request).channel.request_double_opt_in(
        project_id, number, category, customer_id=body.customer_id, text=body.text,
        valid_for=timedelta(hours=body.valid_for_hours), sender=body.sender).to_dict())


def _keywords(rules: list[dict[str, Any]]) -> KeywordsOut:
    return KeywordsOut(keywords=[KeywordOut(**rule) for rule in rules])


@router.get("/keywords", response_model=KeywordsOut, summary="Keyword auto-responses")
def list_keywords(project_id: str, request: Request,
                  _: Principal = Depends(caller)) -> KeywordsOut:
    return _keywords(context_of(request).projects.keywords(project_id))


@router.put("/keywords/{keyword}", response_model=KeywordsOut,
            summary="Add or change a keyword (admin)")
def put_keyword(project_id: str, keyword: Keyword, body: KeywordIn, request: Request,
                who: Principal = Depends(admin)) -> KeywordsOut:
    projects = context_of(request).projects
    projects.configure_keyword(project_id, keyword, action=body.action, category=body.category,
                               answer=body.answer, changed_by=who.token_id)
    return _keywords(projects.keywords(project_id))


@router.delete("/keywords/{keyword}", response_model=KeywordsOut,
               summary="Remove a keyword (admin)")
def delete_keyword(project_id: str, keyword: Keyword, request: Request,
                   who: Principal = Depends(admin)) -> KeywordsOut:
    projects = context_of(request).projects
    projects.remove_keyword(project_id, keyword, changed_by=who.token_id)
    return _keywords(projects.keywords(project_id))


@router.get("/numbers/{number}", response_model=NumberStatusOut,
            summary="Whether a number is marked invalid")
def get_number_status(project_id: str, number: Number, request: Request,
                      _: Principal = Depends(caller)) -> NumberStatusOut:
    return NumberStatusOut(**context_of(request).channel.number_status(project_id, number))


@router.post("/numbers/{number}/revalidate", response_model=NumberStatusOut,
             summary="Allow sends to a number marked invalid (admin)")
def revalidate_number(project_id: str, number: Number, request: Request,
                      who: Principal = Depends(admin)) -> NumberStatusOut:
    return NumberStatusOut(**context_of(request).channel.revalidate_number(
        project_id, number, changed_by=who.token_id))


@router.put("/campaigns/{campaign_id}/nps", response_model=NpsSurveyOut,
            summary="Mark a campaign as an NPS survey (admin)")
def put_nps_survey(project_id: str, campaign_id: str, body: NpsIn, request: Request,
                   who: Principal = Depends(admin)) -> NpsSurveyOut:
    context_of(request).projects.mark_nps_survey(project_id, campaign_id, body.survey,
                                                       changed_by=who.token_id)
    return NpsSurveyOut(campaign_id=campaign_id, survey=body.survey)

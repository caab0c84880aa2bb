"""The OpenAPI document states the real constraints of the two-way path parameters
(phone number, consent category, keyword): a request the document allows is not refused
for its shape, and the document's patterns are the domain's rules.

The patterns are read from /openapi.json as the running service serves it and checked
against the domain's own validation (PhoneNumber.parse, validate_category,
normalise_keyword), with hypothesis generating strings the patterns allow.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.server import BackgroundServer
from smsledger.adapters.runtime.config import load_settings
from smsledger.domain.consent import validate_category
from smsledger.domain.errors import DomainError
from smsledger.domain.phone import PhoneNumber
from smsledger.domain.replies import normalise_keyword

PREFIX = "/v1/projects/{project_id}"
# Every operation with one of the parameters, and where the parameter is.
CONSTRAINED = {
    ("GET", "/consents/{number}"): {"number": "path", "category": "query"},
    ("GET", "/consents/{number}/{category}"): {"number": "path", "category": "path"},
    ("PUT", "/consents/{number}/{category}"): {"number": "path", "category": "path"},
    ("POST", "/consents/{number}/{category}/double-opt-in"): {"number": "path",
                                                                "category": "path"},
    ("GET", "/numbers/{number}"): {"number": "path"},
    ("POST", "/numbers/{number}/revalidate"): {"number": "path"},
    ("PUT", "/keywords/{keyword}"): {"keyword": "path"},
    ("DELETE", "/keywords/{keyword}"): {"keyword": "path"},
}
BOUNDS = {"number": (6, 38), "category": (1, 64), "keyword": (1, 32)}
# The server is a module fixture; a test's client serves all its examples.
TOLERATED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@dataclass(repr=False)  # hypothesis shows the arguments of a failing example
class Served:
    url: str
    document: dict[str, Any]
    admin_token: str


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    config = load_settings(database_url="memory://", secret_key="openapi-params-0123456789abcdef")
    with BackgroundServer() as server:
        channel = bootstrap(settings=config, public_url=server.url)
        try:
            admin_token = channel.projects.create_project("acme", changed_by="test")
            server.start(create_app(ServiceContext.serving(channel, server.url, config)))
            with httpx.Client(base_url=server.url) as client:
                answer = client.get("/openapi.json")
            assert answer.status_code == 200, answer.text
            yield Served(server.url, answer.json(), admin_token)
        finally:
            server.stop()
            channel.close()


@pytest.fixture
def acme(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{served.url}/v1/projects/acme",
                      headers={"Authorization": f"Bearer {served.admin_token}"}) as client:
        yield client


def parameter(document: dict, method: str, path: str, name: str) -> dict[str, Any]:
    operation = document["paths"][PREFIX + path][method.lower()]
    (found,) = [p for p in operation.get("parameters", []) if p["name"] == name]
    return found


def schema_of(document: dict, name: str) -> dict[str, Any]:
    """The parameter's constraints, after checking every operation states the same."""
    keys = ("type", "pattern", "minLength", "maxLength")
    schemas = [{k: parameter(document, method, path, name)["schema"].get(k) for k in keys}
               for (method, path), names in CONSTRAINED.items() if name in names]
    assert all(s == schemas[0] for s in schemas), schemas
    return schemas[0]


def allows(schema: dict[str, Any], value: str) -> bool:
    """What a JSON Schema validator says of a string: length and pattern. The patterns are
    anchored with ^...$; re.search's `$` would also take a final newline, \\Z does not."""
    pattern = schema["pattern"].removesuffix("$") + r"\Z"
    return (schema["minLength"] <= len(value) <= schema["maxLength"]
            and re.search(pattern, value) is not None)


def accepted(check: Any, value: str) -> bool:
    try:
        check(value)
    except DomainError:
        return False
    return True


# --- the document states the constraints ------------------------------------------------

def test_every_number_category_and_keyword_parameter_states_its_constraints(served):
    for (method, path), names in CONSTRAINED.items():
        for name, where in names.items():
            found = parameter(served.document, method, path, name)
            assert found["in"] == where, (method, path, name)
            schema = found["schema"]
            assert schema["type"] == "string"
            assert schema["pattern"].startswith("^") and schema["pattern"].endswith("$")
            assert (schema["minLength"], schema["maxLength"]) == BOUNDS[name], (method, path)


def test_the_readme_s_get_of_one_category_is_documented(served):
    paths = served.document["paths"]
    assert "get" in paths[PREFIX + "/consents/{number}/{category}"]
    assert "get" in paths[PREFIX + "/consents/{number}"]  # the older form stays


# --- the constraints are the domain's ---------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=TOLERATED)
@given(data=st.data())
def test_every_category_and_keyword_the_document_allows_the_domain_accepts(served, data):
    for name, check in (("category", validate_category), ("keyword", normalise_keyword)):
        schema = schema_of(served.document, name)
        core = schema["pattern"][1:-1]
        value = data.draw(st.from_regex(core, fullmatch=True).filter(
            lambda v, s=schema: s["minLength"] <= len(v) <= s["maxLength"]), label=name)
        assert accepted(check, value), (name, value)


@pytest.mark.parametrize(("name", "value"), [
    ("category", "sms_marketing"), ("category", "sms-news"), ("category", "_x"),
    ("category", "Vijesti_Čakovec"), ("category", "x" * 64),
    ("keyword", "STOP"), ("keyword", "stop"), ("keyword", "DA"), ("keyword", "ODJAVA"),
    ("keyword", "ČAO"), ("keyword", "k" * 32),
])
def test_what_the_domain_accepts_the_document_allows(served, name, value):
    assert allows(schema_of(served.document, name), value)


@pytest.mark.parametrize(("name", "value"), [
    ("category", ""), ("category", "_"), ("category", "-_-"), ("category", "a b"),
    ("category", "a/b"), ("category", "x" * 65), ("category", "a\n"),
    ("keyword", ""), ("keyword", "two words"), ("keyword", "A_B"), ("keyword", "k" * 33),
    ("keyword", "STOP!"),
    ("number", ""), ("number", "abc"), ("number", "+0385921234567"), ("number", "12345"),
    ("number", "+385921234567890123456"), ("number", "+385  92 123"), ("number", "+385-"),
])
def test_what_the_domain_refuses_for_its_shape_the_document_refuses(served, name, value):
    check = {"category": validate_category, "keyword": normalise_keyword,
             "number": PhoneNumber.parse}[name]
    assert not accepted(check, value)
    assert not allows(schema_of(served.document, name), value)


def test_every_valid_number_of_every_country_is_allowed_in_each_form_parse_takes(served):
    schema = schema_of(served.document, "number")
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    examples = [phonenumbers.example_number(region) for region in regions]
    numbers = [phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
               for n in examples if n is not None]
    assert len(numbers) > 200
    for e164 in numbers:
        grouped = phonenumbers.format_number(phonenumbers.parse(e164),
                                             phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        for form in {e164, e164[1:], grouped, grouped.replace(" ", "-")}:
            if set(form) <= set("+0123456789 -"):  # the forms PhoneNumber.parse documents
                assert PhoneNumber.parse(form).e164 == e164
                assert allows(schema, form), form


# --- a request the document allows is served --------------------------------------------

@settings(max_examples=40, deadline=None, suppress_health_check=TOLERATED)
@given(data=st.data())
def test_a_consent_of_any_category_the_document_allows_is_read(served, acme, data):
    schema = schema_of(served.document, "category")
    category = data.draw(st.from_regex(schema["pattern"][1:-1], fullmatch=True).filter(
        lambda v: len(v) <= schema["maxLength"]), label="category")
    answer = acme.get(f"/consents/+385921234567/{quote(category, safe='')}")
    assert answer.status_code == 200, (category, answer.text)
    assert answer.json() == {"number": "+385921234567", "category": category,
                             "status": "none", "expires_at": None}


def test_a_consent_is_read_at_the_path_the_readme_gives_and_the_older_one(acme):
    granted = acme.put("/consents/385921234567/sms_news", json={"granted": True})
    assert granted.status_code == 200, granted.text
    expected = {"number": "+385921234567", "category": "sms_news", "status": "granted",
                "expires_at": None}
    assert acme.get("/consents/+385 92 123 4567/sms_news").json() == expected
    assert acme.get("/consents/+385-92-123-4567", params={"category": "sms_news"}).json() \
        == expected
    assert acme.get("/consents/+385921234567").json()["category"] == "sms_marketing"


@pytest.mark.parametrize(("path", "name"), [
    ("/consents/not-a-number/sms_news", "number"), ("/consents/+385921234567/_", "category"),
    ("/consents/+385921234567/a%20b", "category"), ("/keywords/two%20words", "keyword")])
def test_a_path_parameter_the_document_refuses_gets_422_naming_it(acme, path, name):
    answer = acme.request("PUT" if name == "keyword" else "GET", path,
                          json={"action": "none"} if name == "keyword" else None)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request" and name in error["message"], error


def test_a_keyword_in_any_script_the_document_allows_is_configured(acme):
    answer = acme.put(f"/keywords/{quote('odjavi', safe='')}", json={"action": "revoke"})
    assert answer.status_code == 200, answer.text
    answer = acme.put(f"/keywords/{quote('ČAO', safe='')}", json={"action": "none"})
    assert answer.status_code == 200, answer.text
    assert {"ODJAVI", "ČAO"} <= {k["keyword"] for k in answer.json()["keywords"]}

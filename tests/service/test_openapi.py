"""The OpenAPI document, as the running service serves it: every endpoint of the app is
in it (and nothing else), client endpoints declare their authentication failures and
error answers in the one error shape, the API is typed (short operation ids, a model
for every success answer, statuses as enums of the domain's words), and the document
holds together as OpenAPI 3.

openapi-spec-validator is not installed here, so the document is checked structurally:
the parts of the OpenAPI 3.x specification a client generator relies on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.runtime.config import load_settings
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.server import BackgroundServer
from smsledger.domain.campaign_events import CONSENT_STATUSES
from smsledger.domain.consent import ConsentStatus
from smsledger.domain.replies import KeywordAction
from smsledger.domain.status import MessageStatus, WindowOutcome

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
ERROR_SCHEMA = "#/components/schemas/ErrorOut"

# The endpoints issue 5 asks for, by name: each must be described.
REQUIRED = {
    ("PUT", "/v1/projects/{project_id}/integrations/{integration_id}"),
    ("GET", "/v1/projects/{project_id}/integrations"),
    ("PUT", "/v1/projects/{project_id}/channels/sms"),
    ("PUT", "/v1/projects/{project_id}/campaign-event-mapping"),
    ("POST", "/v1/projects/{project_id}/messages"),
    ("POST", "/v1/projects/{project_id}/messages/batch"),
    ("GET", "/v1/projects/{project_id}/messages/{message_id}"),
    ("GET", "/v1/projects/{project_id}/events"),
    ("GET", "/v1/projects/{project_id}/campaigns/{campaign_id}/audit"),
    ("GET", "/v1/projects/{project_id}/campaigns/{campaign_id}/report"),
    ("POST", "/v1/webhooks/infobip/{project_id}/{integration_id}/delivery-reports"),
    ("POST", "/v1/webhooks/infobip/{project_id}/{integration_id}/inbound"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
}
ADMIN_CHANGES = {
    ("PUT", "/v1/projects/{project_id}/integrations/{integration_id}"),
    ("PUT", "/v1/projects/{project_id}/channels/sms"),
    ("PUT", "/v1/projects/{project_id}/campaign-event-mapping"),
}


@dataclass
class Served:
    app: FastAPI
    document: dict[str, Any]


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    settings = load_settings(database_url="memory://", secret_key="openapi-tests-0123456789abcdef")
    with BackgroundServer() as server:
        channel = bootstrap(settings=settings, public_url=server.url)
        app = create_app(ServiceContext.serving(channel, server.url, settings))
        try:
            server.start(app)
            with httpx.Client(base_url=server.url) as client:
                answer = client.get("/openapi.json")
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"].startswith("application/json")
            yield Served(app, answer.json())
        finally:
            server.stop()
            channel.close()


def app_routes(app: FastAPI) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(method, path) of the app's routes: those meant for the document, and the others.

    Newer FastAPI keeps an included router as one route of the app and gives its routes
    through `effective_route_contexts()`; older versions copy them into `app.routes`."""
    shown: set[tuple[str, str]] = set()
    hidden: set[tuple[str, str]] = set()
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        for each in contexts() if contexts is not None else [route]:
            methods, path = getattr(each, "methods", None), getattr(each, "path", None)
            if not methods or path is None:
                continue
            target = shown if getattr(each, "include_in_schema", True) else hidden
            target.update((method, path) for method in methods if method != "HEAD")
    return shown, hidden


def operations(document: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def resolve(document: dict, ref: str) -> Any:
    assert ref.startswith("#/"), f"external $ref {ref!r}"
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"$ref {ref!r} does not resolve"
        node = node[part]
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


# --- every endpoint --------------------------------------------------------------------

def test_the_document_describes_every_route_of_the_app_and_nothing_else(served):
    shown, hidden = app_routes(served.app)
    documented = {(method, path) for method, path, _ in operations(served.document)}
    assert documented == shown
    # Only FastAPI's own pages stay out of the document.
    assert {path for _, path in hidden} <= {"/openapi.json", "/docs", "/docs/oauth2-redirect",
                                            "/redoc"}


def test_every_endpoint_the_issue_asks_for_is_described(served):
    documented = {(method, path) for method, path, _ in operations(served.document)}
    assert REQUIRED <= documented, REQUIRED - documented
    for method, path, operation in operations(served.document):
        assert operation.get("summary") or operation.get("description"), (method, path)


# --- authentication and errors ---------------------------------------------------------

def error_responses(operation: dict) -> dict[str, dict]:
    return {status: response for status, response in operation["responses"].items()
            if status[0] in "45"}


def test_every_client_endpoint_declares_its_authentication_failures_and_error_answers(served):
    document = served.document
    schemes = document.get("components", {}).get("securitySchemes", {})
    for method, path, operation in operations(document):
        if not path.startswith("/v1/projects/"):
            continue
        declared = error_responses(operation)
        bearer = any(schemes.get(name, {}).get("scheme", "").lower() == "bearer"
                     for requirement in operation.get("security", []) for name in requirement)
        assert bearer or "401" in declared, (method, path)
        assert {"401", "404", "422", "503"} <= set(declared), (method, path, sorted(declared))
        if (method, path) in ADMIN_CHANGES:
            assert "403" in declared, (method, path)
        if method in ("PUT", "POST") and "requestBody" in operation:
            assert "413" in declared, (method, path)


def test_every_webhook_declares_its_authentication_failure_and_the_answers_infobip_retries_on(
        served):
    for method, path, operation in operations(served.document):
        if path.startswith("/v1/webhooks/"):
            assert {"400", "401", "413", "503"} <= set(operation["responses"]), (method, path)


def test_every_documented_error_answer_has_the_one_error_shape(served):
    document = served.document
    error = resolve(document, ERROR_SCHEMA)
    assert error["required"] == ["error"]
    body = resolve(document, error["properties"]["error"]["$ref"])
    assert set(body["properties"]) == {"code", "message", "details"}
    assert {"code", "message"} <= set(body["required"])
    for method, path, operation in operations(document):
        for status, response in error_responses(operation).items():
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_SCHEMA}, (method, path, status)


def test_client_endpoints_declare_bearer_auth_and_webhooks_basic_auth(served):
    document = served.document
    schemes = document.get("components", {}).get("securitySchemes", {})
    for method, path, operation in operations(document):
        wanted = ("bearer" if path.startswith("/v1/projects/") else
                  "basic" if path.startswith("/v1/webhooks/") else None)
        if wanted:
            used = {schemes.get(name, {}).get("scheme", "").lower()
                    for requirement in operation.get("security", []) for name in requirement}
            assert wanted in used, (method, path)


def test_readiness_declares_its_503_and_health_answers_alone(served):
    assert "503" in served.document["paths"]["/readyz"]["get"]["responses"]
    assert set(served.document["paths"]["/healthz"]["get"]["responses"]) == {"200"}


def test_metrics_are_documented_as_prometheus_text(served):
    content = served.document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert any(media.startswith("text/plain") for media in content), content


# --- a typed API ------------------------------------------------------------------------

def test_every_operation_id_is_a_short_name_not_a_path(served):
    """A generated client names its methods by operation id: send_message, list_events,
    not FastAPI's default send_one_v1_projects__project_id__messages_post."""
    ids = [operation["operationId"] for _, _, operation in operations(served.document)]
    assert len(ids) == len(set(ids)), sorted(ids)
    for operation_id in ids:
        assert re.fullmatch(r"[a-z]+(_[a-z0-9]+){0,4}", operation_id), operation_id
        assert len(operation_id) <= 40, operation_id
        assert "v1" not in operation_id.split("_") and "/" not in operation_id, operation_id
    by_route = {(method, path): operation["operationId"]
                for method, path, operation in operations(served.document)}
    prefix = "/v1/projects/{project_id}"
    assert by_route["POST", prefix + "/messages"] == "send_message"
    assert by_route["POST", prefix + "/messages/batch"] == "send_messages"
    assert by_route["GET", prefix + "/messages/{message_id}"] == "get_message"
    assert by_route["GET", prefix + "/events"] == "list_events"
    assert by_route["GET", prefix + "/campaigns/{campaign_id}/audit"] == "get_campaign_audit"
    assert by_route["GET", prefix + "/campaigns/{campaign_id}/report"] == "get_campaign_report"
    assert by_route["PUT", prefix + "/integrations/{integration_id}"] == "put_integration"


def untyped_objects(document: dict, schema: Any, where: str, seen: set[str]) -> Iterator[str]:
    """Where an object in `schema` (and the schemas it refers to) declares no properties
    and no type for its values: what a generated client could only hand over as a
    dictionary."""
    if isinstance(schema, list):
        for index, each in enumerate(schema):
            yield from untyped_objects(document, each, f"{where}[{index}]", seen)
        return
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        if schema["$ref"] not in seen:
            seen.add(schema["$ref"])
            yield from untyped_objects(document, resolve(document, schema["$ref"]),
                                       schema["$ref"].rsplit("/", 1)[-1], seen)
        return
    values = schema.get("additionalProperties", True)
    if (schema.get("type") == "object" or schema == {}) and not schema.get("properties") \
            and not isinstance(values, dict):
        yield where
    for key in ("properties", "items", "anyOf", "oneOf", "allOf", "additionalProperties"):
        part = schema.get(key)
        if key == "properties" and isinstance(part, dict):
            for name, each in part.items():
                yield from untyped_objects(document, each, f"{where}.{name}", seen)
        elif isinstance(part, (dict, list)):
            yield from untyped_objects(document, part, where, seen)


def test_every_success_answer_is_a_typed_model(served):
    document = served.document
    untyped = set()
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if not status.startswith("2"):
                continue
            content = response.get("content", {})
            if path == "/metrics":  # Prometheus' text format, not JSON
                assert all(media.startswith("text/plain") for media in content), content
                continue
            if path.endswith("/campaigns/{campaign_id}/report"):  # a page for people
                assert set(content) == {"text/html"}, content
                continue
            schema = content["application/json"]["schema"]
            assert set(schema) == {"$ref"}, (method, path, status, schema)
            model = resolve(document, schema["$ref"])
            assert model["type"] == "object" and model["properties"], (method, path)
            untyped |= set(untyped_objects(document, schema, schema["$ref"], set()))
    # The one free-form object, by design: a history entry's details are the stored
    # event's own fields, which differ for each kind of event.
    assert untyped == {"HistoryEntryOut.details"}


def test_statuses_are_enums_of_the_domain_s_own_words(served):
    schemas = served.document["components"]["schemas"]

    def words(name: str) -> set[str]:
        return set(schemas[name]["enum"])

    assert words("MessageStatus") == {s.value for s in MessageStatus}
    assert words("SendStatus") == {s.value for s in MessageStatus} | {"refused", "invalid"}
    assert words("WindowOutcome") == {w.value for w in WindowOutcome}
    assert words("ConsentStatus") == {s.value for s in ConsentStatus}
    assert words("KeywordAction") == {a.value for a in KeywordAction}
    refs = {name: schemas[name]["properties"]["status"]["$ref"] for name in (
        "MessageOut", "SendOut", "ConsentOut")}
    assert refs == {"MessageOut": "#/components/schemas/MessageStatus",
                    "SendOut": "#/components/schemas/SendStatus",
                    "ConsentOut": "#/components/schemas/ConsentStatus"}
    # A campaign event's properties: one model per kind, chosen by its status.
    union = schemas["CampaignEventOut"]["properties"]["properties"]
    assert union["discriminator"]["propertyName"] == "status"
    statuses: dict[str, set[str]] = {}
    for value, ref in union["discriminator"]["mapping"].items():
        statuses.setdefault(ref.rsplit("/", 1)[-1], set()).add(value)
    assert statuses == {
        "MessageEventProperties": {s.value for s in MessageStatus} - {"requested"},
        "ReplyEventProperties": {"incoming_message"},
        "ConsentEventProperties": set(CONSENT_STATUSES.values())}


def test_the_error_details_have_one_declared_shape(served):
    schemas = served.document["components"]["schemas"]
    body = schemas["ErrorBody"]
    assert body["properties"]["details"] == {"$ref": "#/components/schemas/ErrorDetails"}
    assert set(body["required"]) == {"code", "message", "details"}
    details = schemas["ErrorDetails"]
    assert details["additionalProperties"] is False and details["properties"]
    assert details["properties"]["fields"]["anyOf"][0]["items"] == {
        "$ref": "#/components/schemas/FieldProblem"}
    assert set(schemas["FieldProblem"]["required"]) == {"field", "problem"}


# --- OpenAPI 3, structurally -----------------------------------------------------------

def test_the_document_is_openapi_3_with_the_required_top_level_fields(served):
    document = served.document
    assert re.fullmatch(r"3\.[01]\.\d+", document["openapi"]), document["openapi"]
    assert set(document) <= {"openapi", "info", "jsonSchemaDialect", "servers", "paths",
                             "webhooks", "components", "security", "tags", "externalDocs"}
    assert isinstance(document["info"]["title"], str) and document["info"]["title"]
    assert isinstance(document["info"]["version"], str) and document["info"]["version"]
    assert isinstance(document["paths"], dict) and document["paths"]
    for name in document.get("components", {}).get("schemas", {}):
        assert re.fullmatch(r"[a-zA-Z0-9.\-_]+", name), name


def test_every_operation_is_well_formed(served):
    document = served.document
    operation_ids = []
    for method, path, operation in operations(document):
        where = (method, path)
        assert path.startswith("/"), where
        operation_ids.append(operation["operationId"])
        # Responses: at least one; codes, ranges or default; each with a description.
        assert operation["responses"], where
        for status, response in operation["responses"].items():
            assert re.fullmatch(r"[1-5](\d\d|XX)|default", status), (where, status)
            assert isinstance(response.get("description"), str), (where, status)
            for media, content in response.get("content", {}).items():
                assert "/" in media and isinstance(content, dict), (where, status, media)
        # Parameters: each path template variable declared, required, and no other.
        parameters = operation.get("parameters", [])
        in_path = {p["name"] for p in parameters if p["in"] == "path"}
        assert in_path == set(re.findall(r"{([^}]+)}", path)), where
        seen = set()
        for parameter in parameters:
            assert parameter["in"] in {"query", "header", "path", "cookie"}, where
            assert ("schema" in parameter) != ("content" in parameter), (where, parameter)
            if parameter["in"] == "path":
                assert parameter.get("required") is True, (where, parameter)
            key = (parameter["name"], parameter["in"])
            assert key not in seen, (where, key)
            seen.add(key)
        if "requestBody" in operation:
            content = operation["requestBody"]["content"]
            assert "application/json" in content and "schema" in content["application/json"]
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"


def test_every_reference_in_the_document_resolves(served):
    document = served.document
    references = set(refs(document))
    assert references  # the document does use components
    for ref in references:
        resolve(document, ref)


def test_each_client_request_body_and_answer_refers_to_a_described_schema(served):
    document = served.document
    schemas = document["components"]["schemas"]
    for method, path, operation in operations(document):
        if not path.startswith("/v1/projects/"):
            continue
        if method in ("PUT", "POST") and not path.endswith("/revalidate"):
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            model = resolve(document, body["$ref"])
            assert model.get("additionalProperties") is False, (method, path)  # 422 on extras
            assert model["properties"], (method, path)
        for name in ("IntegrationIn", "MessageIn", "MessageBatchIn", "SmsChannelIn",
                     "EventMappingIn", "ErrorOut"):
            assert name in schemas
    # The API key is described as masked in answers; the integration answer has webhooks.
    out = schemas["IntegrationOut"]["properties"]
    assert "mask" in out["api_key"].get("description", "").lower()
    assert "webhooks" in out

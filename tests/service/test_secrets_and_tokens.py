"""Secrets at rest and API tokens, over real HTTP on a durable store (SQLite, PostgreSQL).

The Infobip API key an admin PUTs is stored sealed: the raw rows of the store never
hold its text, yet sending through the integration works. Tokens can be listed
(never their secret) and revoked, and a revoked token is refused by the very next
request."""

from __future__ import annotations

import sqlite3

from service.conftest import SIMULATOR_KEY, configure_infobip
from support.postgres import connect

DELIVERED = "+385921230000"  # the simulator reports these delivered


def raw_rows(database_url: str) -> list[str]:
    """Every row of every table of the store, as text: what a copy of the database
    (a backup, a dump, a read-only role) shows."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url[len("sqlite:///"):]) as db:
            tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            return [repr(row) + _bytes_of(row) for table in tables
                    for row in db.execute(f'SELECT * FROM "{table}"')]
    schema = database_url.rsplit("schema=", 1)[1]
    with connect() as db:
        tables = [t for (t,) in db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))]
        assert "projects_events" in tables
        return [repr(row) + _bytes_of(row) for table in tables
                for row in db.execute(f'SELECT * FROM "{schema}"."{table}"')]


def _bytes_of(row: tuple) -> str:
    return "".join(bytes(v).decode("utf-8", "replace") for v in row
                   if isinstance(v, (bytes, memoryview)))


def test_the_api_key_is_never_stored_in_the_clear_and_sending_still_works(
        service, durable_store_url):
    admin = service.client(service.admin_token)
    old_key = "an-earlier-infobip-key-0123456789"
    first = admin.put("/v1/projects/acme/integrations/infobip", json={
        "base_url": service.simulator.base_url, "api_key": old_key, "senders": ["AcmeShop"]})
    assert first.status_code == 200, first.text
    configured = configure_infobip(admin, service.simulator)  # the right key, replacing it
    assert configured["api_key"] == "****" + SIMULATOR_KEY[-4:]

    rows = raw_rows(durable_store_url)
    assert any("IntegrationConfigured" in row for row in rows)
    for key in (SIMULATOR_KEY, old_key):  # neither the key in use nor the one replaced
        assert not any(key in row for row in rows), key

    # The simulator accepts only the right key: the sealed one opens to send with.
    sent = admin.post("/v1/projects/acme/messages", json={
        "customer_id": "c1", "to": DELIVERED, "text": "Spring sale", "campaign_id": "spring"})
    assert sent.status_code == 202 and sent.json()["status"] == "enqueued", sent.text
    assert service.simulator.wait_until_idle(timeout=15)
    view = admin.get(f"/v1/projects/acme/messages/{sent.json()['message_id']}").json()
    assert view["status"] == "delivered"
    assert admin.get("/v1/projects/acme/integrations").json()["integrations"][0]["api_key"] == (
        "****" + SIMULATOR_KEY[-4:])


def test_tokens_are_listed_without_their_secrets_and_a_revoked_one_is_refused_at_once(service):
    admin = service.client(service.admin_token)
    member_token = service.ledger.projects.issue_token("acme", "member")
    member = service.client(member_token)
    member_id = member_token.split(".")[1]
    assert member.get("/v1/projects/acme/integrations").status_code == 200

    listed = admin.get("/v1/projects/acme/tokens")
    assert listed.status_code == 200, listed.text
    tokens = {t["token_id"]: t for t in listed.json()["tokens"]}
    assert set(tokens) == {service.admin_token.split(".")[1], member_id}
    assert tokens[member_id]["role"] == "member" and tokens[member_id]["revoked_at"] is None
    assert tokens[member_id]["token"] == f"sml_acme.{member_id}.****"
    assert tokens[member_id]["issued_at"] and tokens[member_id]["issued_by"] == "cli"
    for secret in (service.admin_token.split(".")[2], member_token.split(".")[2]):
        assert secret not in listed.text
    # Listing and revoking are an admin's.
    assert member.get("/v1/projects/acme/tokens").status_code == 403
    assert member.delete(f"/v1/projects/acme/tokens/{member_id}").status_code == 403

    revoked = admin.delete(f"/v1/projects/acme/tokens/{member_id}")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] and revoked.json()["revoked_by"] == (
        service.admin_token.split(".")[1])
    refused = member.get("/v1/projects/acme/integrations")  # the very next request
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "unauthorized"

    # Revoking again changes nothing; an unknown token is not found.
    again = admin.delete(f"/v1/projects/acme/tokens/{member_id}")
    assert again.status_code == 200 and again.json() == revoked.json()
    assert admin.delete("/v1/projects/acme/tokens/000000000000").status_code == 404
    history = admin.get("/v1/projects/acme/settings/history").json()["history"]
    assert [e["event"] for e in history].count("TokenRevoked") == 1

    # An admin may revoke its own token: the answer comes, then it is refused too.
    own_id = service.admin_token.split(".")[1]
    assert admin.delete(f"/v1/projects/acme/tokens/{own_id}").status_code == 200
    assert admin.get("/v1/projects/acme/tokens").status_code == 401

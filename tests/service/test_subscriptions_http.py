"""Event subscriptions over real HTTP, on a durable store (SQLite, PostgreSQL): admin
only, the secret shown once and never stored, the answers' shapes, the errors in the
service's one shape. Delivery itself: tests/application/test_subscriptions.py, and
end to end tests/e2e/test_subscriptions.py."""

from __future__ import annotations

from service.test_secrets_and_tokens import raw_rows

BASE = "/v1/projects/acme/subscriptions"
URL = "http://127.0.0.1:9/hooks/sms"  # the service allows private networks (the simulator)


def test_an_admin_creates_sees_rotates_replays_and_deletes_a_subscription(
        service, durable_store_url):
    admin = service.client(service.admin_token)
    created = admin.put(f"{BASE}/crm", json={"url": URL, "statuses": ["delivered", "failed"]})
    assert created.status_code == 200, created.text
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and "****" not in secret
    assert {k: body[k] for k in ("name", "url", "statuses", "enabled", "disabled_reason",
                                 "position", "lag", "lag_capped", "delivered", "failures")} == {
        "name": "crm", "url": URL, "statuses": ["delivered", "failed"], "enabled": True,
        "disabled_reason": None, "position": "0", "lag": 0, "lag_capped": False,
        "delivered": 0, "failures": 0}

    masked = "whsec_****" + secret.rstrip("=")[-4:]
    listed = admin.get(BASE)
    assert listed.status_code == 200
    assert [(s["name"], s["secret"]) for s in listed.json()["subscriptions"]] == [("crm", masked)]
    changed = admin.put(f"{BASE}/crm", json={"url": URL, "enabled": False})
    assert changed.json()["secret"] == masked and changed.json()["statuses"] == []
    one = admin.get(f"{BASE}/crm").json()
    assert one["enabled"] is False and one["next_attempt_at"] is None

    rotated = admin.post(f"{BASE}/crm/rotate-secret")  # the body may be left out
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret not in (secret, masked)
    graced = admin.post(f"{BASE}/crm/rotate-secret",
                        json={"previous_secret_valid_for_seconds": 3600})
    assert graced.status_code == 200 and graced.json()["secret"] != new_secret

    for after in (0, "0"):
        replayed = admin.post(f"{BASE}/crm/replay", json={"after": after})
        assert replayed.status_code == 200, replayed.text
        assert replayed.json()["position"] == "0"

    # Not one of the secrets is in the store: they are derived, not kept.
    rows = raw_rows(durable_store_url)
    assert any("SubscriptionConfigured" in row for row in rows)
    for shown in (secret, new_secret, graced.json()["secret"]):
        assert not any(shown[len("whsec_"):] in row for row in rows)

    history = admin.get("/v1/projects/acme/settings/history").json()["history"]
    kinds = [c["event"] for c in history if c["event"].startswith("Subscription")]
    assert kinds == ["SubscriptionConfigured", "SubscriptionConfigured",
                     "SubscriptionSecretRotated", "SubscriptionSecretRotated"]
    token_id = service.admin_token.split(".")[1]
    assert {c["changed_by"] for c in history if c["event"].startswith("Subscription")} == {
        token_id}

    deleted = admin.delete(f"{BASE}/crm")
    assert deleted.status_code == 200 and deleted.json() == {"name": "crm", "deleted": True}
    gone = admin.get(f"{BASE}/crm")
    assert gone.status_code == 404
    assert gone.json()["error"]["message"] == "no such subscription"
    assert admin.delete(f"{BASE}/crm").status_code == 404


def test_only_the_projects_admins_may_touch_its_subscriptions(service):
    admin = service.client(service.admin_token)
    assert admin.put(f"{BASE}/crm", json={"url": URL}).status_code == 200
    member = service.client(service.ledger.projects.issue_token("acme", "member"))
    other = service.client(service.new_project("globex"))
    anonymous = service.client()
    calls = [("put", f"{BASE}/crm", {"url": URL}), ("get", BASE, None),
             ("get", f"{BASE}/crm", None), ("delete", f"{BASE}/crm", None),
             ("post", f"{BASE}/crm/rotate-secret", {}), ("post", f"{BASE}/crm/replay",
                                                          {"after": "0"})]
    for method, path, body in calls:
        for client, status in ((member, 403), (other, 404), (anonymous, 401)):
            kwargs = {"json": body} if body is not None else {}
            answer = getattr(client, method)(path, **kwargs)
            assert answer.status_code == status, (method, path, status, answer.text)
            assert set(answer.json()["error"]) >= {"code", "message"}
    assert admin.get(f"{BASE}/crm").status_code == 200  # none of that changed anything


def test_invalid_requests_are_answered_422_naming_what_is_wrong(service):
    admin = service.client(service.admin_token)
    cases = [
        (f"{BASE}/crm", {"url": URL, "statuses": ["delivred"]}, "'delivred'"),
        (f"{BASE}/crm", {"url": "ftp://example.com/x"}, "url"),
        (f"{BASE}/crm", {"url": URL, "secret": "mine"}, "body.secret"),
        (f"{BASE}/Not-An-Id", {"url": URL}, "subscription name"),
    ]
    for path, body, named in cases:
        answer = admin.put(path, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert named in answer.text, (named, answer.text)
    assert admin.put(f"{BASE}/crm", json={"url": URL}).status_code == 200
    for body in ({"after": "-1"}, {"after": "12345678"}, {}):
        answer = admin.post(f"{BASE}/crm/replay", json=body)
        assert answer.status_code == 422, (body, answer.text)
    beyond = admin.post(f"{BASE}/crm/replay", json={"after": "12345678"})
    assert "the head" in beyond.json()["error"]["message"]
    too_long = admin.post(f"{BASE}/crm/rotate-secret",
                          json={"previous_secret_valid_for_seconds": 8 * 86400})
    assert too_long.status_code == 422
    assert admin.post(f"{BASE}/nope/replay", json={"after": "0"}).status_code == 404

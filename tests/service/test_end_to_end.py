"""A platform's whole session over HTTP: configure, send a campaign, let Infobip (the
simulator) call the webhooks, then read statuses, the feed page by page, the audit."""


from service.conftest import SIMULATOR_KEY, configure_infobip

NUMBERS = {  # destination -> the status the simulator gives it
    "+385921230000": "delivered", "+385921230100": "delivered", "+385921230010": "delivered",
    "+385921230020": "rejected", "+385921230030": "failed", "+385921230070": "enqueued",
    "+4915123456700": "enqueued", "+5511961234500": "enqueued",
}



def test_configure_send_track_and_audit_over_http(service):
    admin = service.client(service.admin_token)

    integration = configure_infobip(admin, service.simulator)
    assert integration["api_key"] == "****" + SIMULATOR_KEY[-4:]
    assert SIMULATOR_KEY not in str(integration)
    assert integration["webhooks"]["delivery_reports"] == (
        f"{service.url}/v1/webhooks/infobip/acme/infobip/delivery-reports")
    assert len(integration["webhooks"]["secret"]) >= 22  # at least 128 bits
    assert admin.put("/v1/projects/acme/campaign-event-mapping",
                     json={"campaign": "sms_status"}).json() == {"campaign": "sms_status"}

    listed = admin.get("/v1/projects/acme/integrations").json()
    assert listed["default_provider"] == "infobip"
    assert listed["integrations"][0]["webhooks"]["secret"] is None

    batch = admin.post("/v1/projects/acme/messages/batch", json={"messages": [
        {"customer_id": f"c{i}", "to": number, "text": "Spring sale: 20% off",
         "campaign_id": "spring", "action_id": "a1"} for i, number in enumerate(NUMBERS)]})
    assert batch.status_code == 202, batch.text
    sent = batch.json()["messages"]
    assert len(sent) == len(NUMBERS) and {m["number_of_message_parts"] for m in sent} == {1}
    one = admin.post("/v1/projects/acme/messages", json={
        "customer_id": "c-mms", "to": "+385921239900", "title": "Flash sale", "text": "50% off",
        "media_urls": ["https://cdn.example/p.png"], "campaign_id": "spring"})
    assert one.status_code == 202 and one.json()["status"] == "enqueued"

    # Infobip (the simulator) posts its reports to our webhook with the secret.
    assert service.simulator.wait_until_idle(timeout=15)
    ids = {m["message_id"]: number for m, number in zip(sent, NUMBERS)}
    for message_id, number in ids.items():
        view = admin.get(f"/v1/projects/acme/messages/{message_id}").json()
        assert view["status"] == NUMBERS[number], (number, view)
        assert view["history"][0]["event"] == "Requested"
        assert view["sender"] == "AcmeShop" and view["integration_id"] == "infobip"

    # The feed, page by page with the cursor: everything once, under the mapped name.
    events, cursor = [], "0"
    while True:
        page = admin.get("/v1/projects/acme/events", params={"after": cursor, "limit": 3}).json()
        if not page["events"]:
            break
        events += page["events"]
        cursor = page["next"]
    assert {e["event"] for e in events} == {"sms_status"}
    assert len({e["event_id"] for e in events}) == len(events) == 9 + 6  # enqueued + finals
    assert {e["properties"]["action_type"] for e in events} == {"sms"}

    audit = admin.get("/v1/projects/acme/campaigns/spring/audit").json()
    assert (audit["requested"], audit["delivered"], audit["rejected"], audit["failed"],
            audit["pending"]) == (9, 4, 1, 1, 3)
    assert audit["drift"] == []

    history = admin.get("/v1/projects/acme/settings/history").json()["history"]
    assert [h["event"] for h in history] == [
        "Started", "TokenIssued", "IntegrationConfigured", "DefaultProviderChosen",
        "CampaignEventRenamed"]
    admin_token_id = service.admin_token.split(".")[1]
    assert {h["changed_by"] for h in history[2:]} == {admin_token_id}
    assert all("api_key" not in h and "token_hash" not in h for h in history)


def test_health_metrics_and_openapi(service):
    client = service.client()
    assert client.get("/healthz").json() == {"status": "ok"}
    client.get("/v1/projects/acme/integrations")  # a 401, counted like any request
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert ('smsledger_http_requests_total{method="GET",route="refused before routing",'
            'status="401"}') in metrics.text
    assert 'route="/healthz",status="200"' in metrics.text
    for projection in ("feed", "statistics", "history", "campaign_index"):
        assert f'smsledger_projection_events_behind{{projection="{projection}"}}' in metrics.text
        assert f'smsledger_projection_seconds_behind{{projection="{projection}"}}' in metrics.text
    assert "x-request-id" in client.get("/healthz").headers

"""Sending over HTTP at the edges: a reused message id, Idempotency-Key, a batch with
one invalid message, a typo in a campaign, a malformed feed cursor."""

from service.conftest import configure_infobip

MESSAGES = "/v1/projects/acme/messages"


def message(customer="cust-1", to="+385921230010", **fields):
    return {"customer_id": customer, "to": to, "text": "Spring sale", "campaign_id": "spring",
            **fields}


def test_a_reused_message_id_is_409_and_a_repeat_is_answered_again(service):
    client = service.client(service.admin_token)
    configure_infobip(client, service.simulator)
    first = client.post(MESSAGES, json=message(message_id="idem-1"))
    assert first.status_code == 202 and first.json()["status"] == "enqueued"

    reused = client.post(MESSAGES, json=message("cust-2", "+385921230100", message_id="idem-1"))
    assert reused.status_code == 409, reused.text
    assert reused.json()["error"]["code"] == "message_id_reused"
    (problem,) = reused.json()["error"]["details"]["fields"]
    assert problem["field"] == "body.message_id" and "idem-1" in problem["problem"]

    repeat = client.post(MESSAGES, json=message(message_id="idem-1"))
    assert repeat.status_code == 202
    assert (repeat.json()["message_id"], repeat.json()["status"]) == ("idem-1", "enqueued")
    assert service.simulator.sent_message_ids().count("idem-1") == 1


def test_the_idempotency_key_header_names_the_message(service):
    client = service.client(service.admin_token)
    configure_infobip(client, service.simulator)
    sent = client.post(MESSAGES, json=message(), headers={"Idempotency-Key": "key-1"})
    assert sent.status_code == 202 and sent.json()["message_id"] == "key-1"
    again = client.post(MESSAGES, json=message(), headers={"Idempotency-Key": "key-1"})
    assert again.status_code == 202 and again.json()["message_id"] == "key-1"
    other = client.post(MESSAGES, json=message("cust-9"), headers={"Idempotency-Key": "key-1"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "message_id_reused"
    differ = client.post(MESSAGES, json=message(message_id="x"), headers={"Idempotency-Key": "y"})
    assert differ.status_code == 422
    assert service.simulator.sent_message_ids().count("key-1") == 1


def test_one_invalid_number_does_not_reject_the_batch(service):
    client = service.client(service.admin_token)
    configure_infobip(client, service.simulator)
    batch = client.post(f"{MESSAGES}/batch", json={"messages": [
        message("c1", "+385921230010", message_id="b-1"),
        message("c2", "12", message_id="b-2"),
        message("c3", "+385921230100"),
        message("c4", "+385921230010", message_id="b-1", text="another text")]})
    assert batch.status_code == 202, batch.text
    results = batch.json()["messages"]
    assert [r["status"] for r in results] == ["enqueued", "invalid", "enqueued", "invalid"]
    assert [r["error"] for r in results] == [None, "invalid_message", None, "message_id_reused"]
    assert results[1]["message_id"] == "b-2" and "12" in results[1]["detail"]
    assert client.get(f"{MESSAGES}/b-2").status_code == 404  # not stored
    assert sorted(service.simulator.sent_message_ids()) == sorted(["b-1", results[2]["message_id"]])
    malformed = client.post(f"{MESSAGES}/batch", json={"messages": [{"to": "+385921230010"}]})
    assert malformed.status_code == 422
    # A batch of one reusing an id is refused whole; the details name the message's id.
    alone = client.post(f"{MESSAGES}/batch", json={"messages": [
        message("c5", "+385921230100", message_id="b-1")]})
    assert alone.status_code == 409 and alone.json()["error"]["code"] == "message_id_reused"
    fields = alone.json()["error"]["details"]["fields"]
    assert [f["field"] for f in fields] == ["body.messages.0.message_id"]


def test_an_unknown_campaign_is_404_not_a_zero_funnel(service):
    client = service.client(service.admin_token)
    configure_infobip(client, service.simulator)
    assert client.post(MESSAGES, json=message()).status_code == 202
    assert client.get("/v1/projects/acme/campaigns/spring/audit").status_code == 200
    typo = client.get("/v1/projects/acme/campaigns/sprign/audit")
    assert typo.status_code == 404 and typo.json()["error"]["code"] == "not_found"


def test_the_feed_cursor_is_checked_and_documented(service):
    client = service.client(service.admin_token)
    assert client.get("/v1/projects/acme/events", params={"after": "abc"}).status_code == 422
    assert client.get("/v1/projects/acme/events", params={"after": "0"}).status_code == 200
    parameters = client.get("/openapi.json").json()["paths"]["/v1/projects/{project_id}/events"][
        "get"]["parameters"]
    (after,) = [p for p in parameters if p["name"] == "after"]
    assert after["schema"]["pattern"] == "^[0-9]+$"

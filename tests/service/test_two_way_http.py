"""Two-way SMS end to end over HTTP: the simulator's customers reply to our messages
through the inbound webhook; consent, answers, NPS and the feed follow."""

import dataclasses

from support.waiting import wait_for
from service.conftest import SIMULATOR_KEY, configure_infobip


OUR_NUMBER = "385991234567"



def test_replies_change_consent_answer_and_score(service):
    admin = service.client(service.admin_token)
    integration = configure_infobip(admin, service.simulator)
    hooks = integration["webhooks"]
    inbound = hooks["inbound"].replace("http://", f"http://infobip:{hooks['secret']}@")
    service.simulator.config = dataclasses.replace(service.simulator.config,
                                                   inbound_webhook_url=inbound)
    assert admin.put("/v1/projects/acme/campaigns/nps-q4/nps", json={"survey": True}).status_code == 200
    stopper, confirmer, scorer, talker = ("+385921230085", "+385921230086", "+385921230087",
                                          "+385921230088")
    for number in (stopper, talker):
        assert admin.put(f"/v1/projects/acme/consents/{number}/sms_marketing",
                         json={"granted": True, "customer_id": "c"}).json()["status"] == "granted"
    pending = admin.post(f"/v1/projects/acme/consents/{confirmer}/sms_news/double-opt-in",
                         json={"customer_id": "c-confirm"})
    assert pending.status_code == 202 and pending.json()["status"] == "requested"

    sent = admin.post("/v1/projects/acme/messages/batch", json={"messages": [
        {"customer_id": "c-stop", "to": stopper, "text": "Sale!", "campaign_id": "spring",
         "sender": OUR_NUMBER, "consent_category": "sms_marketing"},
        {"customer_id": "c-nps", "to": scorer, "text": "How likely are you to recommend us?",
         "campaign_id": "nps-q4", "sender": OUR_NUMBER},
        {"customer_id": "c-talk", "to": talker, "text": "Sale!", "campaign_id": "spring",
         "sender": OUR_NUMBER, "consent_category": "sms_marketing"},
    ]})
    assert [m["status"] for m in sent.json()["messages"]] == ["enqueued"] * 3
    # The default sender is a name ("AcmeShop"); the confirmation went from our number,
    # so the simulated customer's YES reaches us.
    (confirmation,) = [r.body["messages"][0] for r in service.simulator.requests
                       if r.path == "/sms/3/messages" and "Reply YES" in
                       r.body["messages"][0]["content"]["text"]]
    assert confirmation["sender"] == OUR_NUMBER

    assert service.simulator.wait_until_idle(timeout=20)

    def consent(number, category):
        return admin.get(f"/v1/projects/acme/consents/{number}/{category}").json()["status"]

    wait_for(lambda: consent(stopper, "sms_marketing") == "revoked")
    assert consent(talker, "sms_marketing") == "granted"  # "stop" not as the first word
    wait_for(lambda: consent(confirmer, "sms_news") == "granted")

    # STOP is answered, from the number the customer wrote to.
    answers = [r.body["messages"][0] for r in service.simulator.requests
               if r.path == "/sms/3/messages"
               and r.body["messages"][0]["destinations"][0]["to"] == stopper.lstrip("+")
               and "unsubscribed" in r.body["messages"][0]["content"]["text"]]
    assert len(answers) == 1 and answers[0]["sender"] == OUR_NUMBER

    events = admin.get("/v1/projects/acme/events", params={"limit": 1000}).json()["events"]
    replies = {e["properties"]["message"]: e for e in events
               if e["properties"]["status"] == "incoming_message"}
    assert replies["STOP"]["properties"]["campaign_id"] == "spring"
    assert replies["STOP"]["customer_id"] == "c-stop"
    assert replies["9 great service"]["properties"]["nps_score"] == 9
    audit = admin.get("/v1/projects/acme/campaigns/nps-q4/audit").json()
    assert audit["nps"] == {"responses": 1, "promoters": 1, "passives": 0, "detractors": 0,
                            "score": 100.0}

    # The revoked number is now refused for marketing, with the documented code.
    refused = admin.post("/v1/projects/acme/messages", json={
        "customer_id": "c-stop", "to": stopper, "text": "Sale!",
        "consent_category": "sms_marketing"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "consent_missing"
    assert [f["field"] for f in refused.json()["error"]["details"]["fields"]] == [
        "body.consent_category"]


def test_a_permanent_error_blocks_sends_until_revalidated(service):
    admin = service.client(service.admin_token)
    configure_infobip(admin, service.simulator)
    number = "+385921230030"  # the simulator fails it with EC_UNIDENTIFIED_SUBSCRIBER
    first = admin.post("/v1/projects/acme/messages", json={"customer_id": "c", "to": number,
                                                            "text": "Hi"})
    assert first.status_code == 202
    assert service.simulator.wait_until_idle(timeout=15)
    assert admin.get(f"/v1/projects/acme/numbers/{number}").json()["invalid"] is True
    blocked = admin.post("/v1/projects/acme/messages", json={"customer_id": "c", "to": number,
                                                              "text": "Hi again"})
    assert blocked.status_code == 409 and blocked.json()["error"]["code"] == "number_invalid"
    assert [f["field"] for f in blocked.json()["error"]["details"]["fields"]] == ["body.to"]
    member = service.client(service.ledger.projects.issue_token("acme", "member"))
    refused = member.post(f"/v1/projects/acme/numbers/{number}/revalidate")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert admin.get(f"/v1/projects/acme/numbers/{number}").json()["invalid"] is True
    assert admin.post(f"/v1/projects/acme/numbers/{number}/revalidate").json()["invalid"] is False
    assert admin.post("/v1/projects/acme/messages", json={"customer_id": "c", "to": number,
                                                           "text": "Hi"}).status_code == 202


def test_keywords_can_be_configured(service):
    admin = service.client(service.admin_token)
    answer = admin.put("/v1/projects/acme/keywords/PAUSE", json={
        "action": "revoke", "category": "sms_marketing", "answer": "Paused."})
    assert answer.status_code == 200
    keywords = {k["keyword"]: k for k in answer.json()["keywords"]}
    assert keywords["PAUSE"]["action"] == "revoke" and "STOP" in keywords
    assert admin.delete("/v1/projects/acme/keywords/pause").status_code == 200
    bad = admin.put("/v1/projects/acme/keywords/two words", json={"action": "revoke"})
    assert bad.status_code == 422


def test_a_send_in_a_project_without_an_integration_is_refused_and_not_stored(service):
    admin = service.client(service.admin_token)
    before = service.ledger.recorder.max_notification_id()
    answer = admin.post("/v1/projects/acme/messages", json={"customer_id": "c",
                                                            "to": "+385921234567", "text": "Hi"})
    assert answer.status_code == 422
    assert "no default SMS provider" in answer.json()["error"]["message"]
    assert service.ledger.recorder.max_notification_id() == before


def test_only_an_admin_changes_consent_and_a_member_still_reads_it(service):
    admin = service.client(service.admin_token)
    member = service.client(service.ledger.projects.issue_token("acme", "member"))
    path = "/v1/projects/acme/consents/+385921234567/sms_marketing"
    refused = member.put(path, json={"granted": True})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert member.get(path).json()["status"] == "none"
    assert admin.put(path, json={"granted": True}).json()["status"] == "granted"
    assert member.get(path).json()["status"] == "granted"


def test_a_double_opt_in_is_refused_from_a_sender_that_cannot_receive_the_yes(service):
    admin = service.client(service.admin_token)
    configure_infobip(admin, service.simulator)  # senders AcmeShop (default) and our number
    path = "/v1/projects/acme/consents/+385921230000/sms_news/double-opt-in"
    for sender, code, words in (("AcmeShop", "sender_cannot_receive_replies", "cannot receive"),
                                ("385990000000", "invalid_request", "not one of")):
        answer = admin.post(path, json={"customer_id": "c", "sender": sender})
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == code and words in error["message"], error
    assert [r for r in service.simulator.requests if r.path == "/sms/3/messages"] == []
    chosen = admin.post(path, json={"customer_id": "c", "sender": OUR_NUMBER})
    assert chosen.status_code == 202 and chosen.json()["status"] == "requested"


def test_a_double_opt_in_is_refused_when_the_integration_has_no_numeric_sender(service):
    admin = service.client(service.admin_token)
    configure_infobip(admin, service.simulator)
    assert admin.put("/v1/projects/acme/integrations/infobip", json={
        "base_url": service.simulator.base_url, "api_key": SIMULATOR_KEY,
        "senders": ["AcmeShop"], "default_sender": "AcmeShop"}).status_code == 200
    answer = admin.post("/v1/projects/acme/consents/+385921230000/sms_news/double-opt-in",
                        json={"customer_id": "c"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "no_numeric_sender"
    assert "no numeric sender" in answer.json()["error"]["message"]
    assert admin.get("/v1/projects/acme/consents/+385921230000/sms_news").json()["status"] \
        == "none"

from smsledger.application.commands import InboundSms, SendRequest


def reply(text, message_id="mo-1", sender="385921234567"):
    return InboundSms(message_id=message_id, sender=sender, to="385991234567", text=text)


def test_a_reply_delivered_twice_counts_once_and_is_answered_once(ledger, provider):
    ledger.projects.create_project("acme")
    ledger.projects.configure_integration("acme", "infobip", base_url="https://x.example",
                                          api_key="k" * 16, senders=["385991234567"],
                                          default_sender="385991234567", changed_by="t")
    ledger.projects.choose_default_provider("acme", "infobip", changed_by="t")
    ledger.send("acme", [SendRequest(customer_id="c", to="+385921234567", text="Hi",
                                     campaign_id="spring")])
    first = ledger.record_inbound("acme", "infobip", [reply("STOP")])
    again = ledger.record_inbound("acme", "infobip", [reply("STOP"), reply("STOP")])
    assert (first.applied, again.applied, again.noted) == (1, 0, 2)
    incoming = [e for e in ledger.campaign_events("acme", limit=100).events
                if e.status == "incoming_message"]
    assert len(incoming) == 1
    answers = [m for m in provider.sent if "unsubscribed" in m.content.text]
    assert len(answers) == 1 and answers[0].message_id == "answer-mo-1"


def test_keywords_match_the_first_word_whatever_the_case_and_punctuation(ledger):
    ledger.set_consent("acme", "+385921234567", "sms_marketing", granted=True)
    ledger.record_inbound("acme", "infobip", [reply("  stop.", message_id="a")])
    assert ledger.consent("acme", "+385921234567", "sms_marketing").status == "revoked"
    ledger.record_inbound("acme", "infobip", [reply("Start!", message_id="b")])
    assert ledger.consent("acme", "+385921234567", "sms_marketing").status == "granted"
    ledger.record_inbound("acme", "infobip", [reply("Please STOP", message_id="c")])
    assert ledger.consent("acme", "+385921234567", "sms_marketing").status == "granted"


def configure(ledger, senders=("385991234567",)):
    ledger.projects.create_project("acme")
    ledger.projects.configure_integration("acme", "infobip", base_url="https://x.example",
                                          api_key="k" * 16, senders=list(senders),
                                          default_sender=senders[0], changed_by="t")
    ledger.projects.choose_default_provider("acme", "infobip", changed_by="t")


def test_a_keyword_to_a_number_that_is_not_a_sender_is_answered_from_the_default_one(
        ledger, provider):
    configure(ledger, senders=("AcmeShop",))  # the reply went to 385991234567
    result = ledger.record_inbound("acme", "infobip", [reply("STOP")])
    assert result.applied == 1
    [answer] = [m for m in provider.sent if m.message_id == "answer-mo-1"]
    assert (answer.to, answer.sender) == ("+385921234567", "AcmeShop")


def test_two_keywords_from_one_number_in_one_callback_change_its_consent_once_each(ledger):
    configure(ledger)
    ledger.set_consent("acme", "+385921234567", "sms_marketing", granted=True)
    result = ledger.record_inbound("acme", "infobip", [reply("STOP", message_id="a"),
                                                       reply("STOP", message_id="b")])
    assert result.applied == 2
    assert ledger.consent("acme", "+385921234567", "sms_marketing").status == "revoked"

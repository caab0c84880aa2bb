from datetime import timedelta

import pytest

from smsledger.application.commands import InboundSms, SendRequest
from smsledger.domain.errors import InvalidInput


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


# --- consent by reply: YES confirms only a double opt-in, START re-subscribes ----------

def test_an_unsolicited_yes_grants_nothing_and_is_not_answered(ledger, provider):
    configure(ledger)
    result = ledger.record_inbound("acme", "infobip", [reply("yes please")])
    assert result.applied == 1  # the reply itself is kept
    assert ledger.consent("acme", "+385921234567", "sms_marketing").status == "none"
    assert [m for m in provider.sent if m.message_id == "answer-mo-1"] == []


def test_a_yes_confirms_the_pending_double_opt_in_and_nothing_else(ledger, provider):
    configure(ledger)
    ledger.request_double_opt_in("acme", "+385921234567", "sms_news", customer_id="c")
    ledger.record_inbound("acme", "infobip", [reply("Yes please")])
    assert ledger.consent("acme", "+385921234567", "sms_news").status == "granted"
    assert ledger.consent("acme", "+385921234567", "sms_marketing").status == "none"
    [answer] = [m for m in provider.sent if m.message_id == "answer-mo-1"]
    assert "confirmed" in answer.content.text


def test_a_yes_after_the_double_opt_in_expired_grants_nothing(ledger, clock):
    configure(ledger)
    ledger.request_double_opt_in("acme", "+385921234567", "sms_news", customer_id="c",
                                 valid_for=timedelta(hours=1))
    clock.advance(timedelta(hours=2))
    ledger.record_inbound("acme", "infobip", [reply("YES")])
    assert ledger.consent("acme", "+385921234567", "sms_news").status == "requested"
    assert ledger.consent("acme", "+385921234567", "sms_marketing").status == "none"


def test_start_still_resubscribes_without_any_double_opt_in(ledger, provider):
    configure(ledger)
    ledger.record_inbound("acme", "infobip", [reply("STOP", message_id="a")])
    ledger.record_inbound("acme", "infobip", [reply("START", message_id="b")])
    assert ledger.consent("acme", "+385921234567", "sms_marketing").status == "granted"
    assert [m.message_id for m in provider.sent if m.message_id.startswith("answer-")] == [
        "answer-a", "answer-b"]


# --- the double opt-in goes from a sender the YES can come back to ---------------------

def test_a_double_opt_in_goes_from_a_numeric_sender_when_the_default_is_a_name(
        ledger, provider):
    configure(ledger, senders=("AcmeShop", "385991234567"))
    view = ledger.request_double_opt_in("acme", "+385921234567", "sms_news", customer_id="c")
    assert view.status == "requested"
    assert [(m.to, m.sender) for m in provider.sent] == [("+385921234567", "385991234567")]


def test_a_double_opt_in_goes_from_the_sender_asked_for(ledger, provider):
    configure(ledger, senders=("385991234567", "385991234568"))
    ledger.request_double_opt_in("acme", "+385921234567", "sms_news", customer_id="c",
                                 sender="385991234568")
    assert [m.sender for m in provider.sent] == ["385991234568"]


@pytest.mark.parametrize(("senders", "sender", "words"), [
    (("AcmeShop", "385991234567"), "AcmeShop", "cannot receive"),
    (("AcmeShop", "385991234567"), "385990000000", "not one of"),
    (("AcmeShop",), None, "no numeric sender"),
])
def test_a_double_opt_in_no_reply_could_reach_is_refused_and_nothing_is_sent(
        ledger, provider, senders, sender, words):
    configure(ledger, senders=senders)
    with pytest.raises(InvalidInput, match=words):
        ledger.request_double_opt_in("acme", "+385921234567", "sms_news", customer_id="c",
                                     sender=sender)
    assert provider.sent == []
    assert ledger.consent("acme", "+385921234567", "sms_news").status == "none"


def test_a_repeated_yes_is_answered_only_if_it_confirmed(ledger, provider):
    configure(ledger)
    ledger.request_double_opt_in("acme", "+385921234567", "sms_news", customer_id="c")
    ledger.record_inbound("acme", "infobip", [reply("YES", message_id="confirms")])
    ledger.record_inbound("acme", "infobip", [reply("YES", message_id="unasked",
                                                    sender="385921234599")])
    again = ledger.record_inbound("acme", "infobip", [
        reply("YES", message_id="confirms"),
        reply("YES", message_id="unasked", sender="385921234599")])
    assert again.applied == 0
    assert [m.message_id for m in provider.sent if m.message_id.startswith("answer-")] == [
        "answer-confirms"]
    assert ledger.consent("acme", "+385921234599", "sms_news").status == "none"

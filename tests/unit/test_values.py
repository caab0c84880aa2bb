from datetime import datetime, timezone
from decimal import Decimal

import pytest

from smsledger.domain.content import MmsContent, SmsContent, content_from_dict
from smsledger.domain.countries import COUNTRIES_WITHOUT_DELIVERY_REPORTS, expects_delivery_reports
from smsledger.domain.errors import EmptyContent, InvalidContent, InvalidOutcome, InvalidPhoneNumber, UnknownStatusGroup
from smsledger.domain.outcome import DeliveryOutcome, Price, StatusGroup
from smsledger.domain.phone import PhoneNumber
from smsledger.domain.status import MessageStatus


class TestPhoneNumber:
    @pytest.mark.parametrize("raw", ["+385921234567", "385921234567", "+385 92 123 4567"])
    def test_parses_to_e164_with_country(self, raw):
        number = PhoneNumber.parse(raw)
        assert number.e164 == "+385921234567"
        assert number.country == "HR"
        assert number.digits == "385921234567"

    @pytest.mark.parametrize("raw", ["", "   ", "hello", "+1", "+38592", "12345678901234567890"])
    def test_malformed_numbers_raise_a_named_error(self, raw):
        with pytest.raises(InvalidPhoneNumber):
            PhoneNumber.parse(raw)

    def test_german_mobile_is_germany(self):
        assert PhoneNumber.parse("+4915123456789").country == "DE"


class TestCountries:
    def test_the_seed_list_has_34_countries_including_germany_and_brazil(self):
        assert len(COUNTRIES_WITHOUT_DELIVERY_REPORTS) == 34
        assert {"DE", "BR", "MX", "VN", "WF"} <= COUNTRIES_WITHOUT_DELIVERY_REPORTS

    def test_reports_expected_elsewhere(self):
        assert expects_delivery_reports("HR")
        assert not expects_delivery_reports("DE")


class TestContent:
    def test_empty_sms_text_is_refused(self):
        with pytest.raises(EmptyContent):
            SmsContent("  ")

    def test_mms_title_length_is_limited(self):
        with pytest.raises(InvalidContent):
            MmsContent(title="x" * 67, text="hi")

    def test_mms_needs_text_or_media(self):
        with pytest.raises(EmptyContent):
            MmsContent(title="Flash sale")

    def test_mms_media_must_be_http_urls(self):
        with pytest.raises(InvalidContent):
            MmsContent(title="Sale", media_urls=("ftp://x/y.png",))

    def test_mms_is_one_part(self):
        assert MmsContent(title="Sale", text="x" * 500).part_count().parts == 1

    def test_round_trips_through_a_dict(self):
        for content in (SmsContent("hi"), MmsContent("Sale", "50% off", ("https://cdn.example/p.png",))):
            assert content_from_dict(content.to_dict()) == content


class TestStatusGroup:
    @pytest.mark.parametrize(("name", "group"), [("DELIVERED", StatusGroup.DELIVERED),
                                                 ("delivered", StatusGroup.DELIVERED),
                                                 ("Rejected", StatusGroup.REJECTED)])
    def test_names_match_ignoring_case(self, name, group):
        assert StatusGroup.parse(group_name=name) is group

    def test_the_name_wins_over_a_renumbered_id(self):
        assert StatusGroup.parse(group_id=9, group_name="DELIVERED") is StatusGroup.DELIVERED

    def test_id_alone(self):
        assert StatusGroup.parse(group_id=2) is StatusGroup.UNDELIVERABLE

    @pytest.mark.parametrize("kwargs", [{"group_name": "SUCCESS"}, {"group_id": 42}, {}])
    def test_unknown_groups_raise_and_are_never_success(self, kwargs):
        with pytest.raises(UnknownStatusGroup):
            StatusGroup.parse(**kwargs)

    def test_every_group_maps_explicitly(self):
        assert {g: g.final_status for g in StatusGroup} == {
            StatusGroup.ACCEPTED: None,
            StatusGroup.PENDING: None,
            StatusGroup.UNDELIVERABLE: MessageStatus.FAILED,
            StatusGroup.DELIVERED: MessageStatus.DELIVERED,
            StatusGroup.EXPIRED: MessageStatus.FAILED,
            StatusGroup.REJECTED: MessageStatus.REJECTED,
        }


class TestDeliveryOutcome:
    def test_round_trips_through_a_dict(self):
        outcome = DeliveryOutcome(
            group=StatusGroup.UNDELIVERABLE, status_id=9, status_name="UNDELIVERABLE_NOT_DELIVERED",
            error_id=5, error_name="EC_UNIDENTIFIED_SUBSCRIBER", error_permanent=True,
            done_at=datetime(2026, 11, 9, 16, 0, 3, tzinfo=timezone.utc), parts=2,
            price=Price(Decimal("0.01"), "EUR"),
        )
        assert DeliveryOutcome.from_dict(outcome.to_dict()) == outcome

    def test_naive_times_are_refused(self):
        with pytest.raises(InvalidOutcome):
            DeliveryOutcome(StatusGroup.DELIVERED, done_at=datetime(2026, 1, 1))

    def test_part_count_must_be_positive(self):
        with pytest.raises(InvalidOutcome):
            DeliveryOutcome(StatusGroup.DELIVERED, parts=0)

    def test_negative_price_is_refused(self):
        with pytest.raises(InvalidOutcome):
            Price(Decimal("-1"), "EUR")


def test_the_identity_of_a_stored_outcome_is_the_outcomes():
    from smsledger.domain.outcome import outcome_identity

    outcome = DeliveryOutcome(StatusGroup.DELIVERED, 5, "Delivered_To_Handset",
                              done_at=datetime(2026, 11, 9, 16, 0, 3, tzinfo=timezone.utc))
    assert outcome_identity(outcome.to_dict()) == outcome.identity
    assert outcome.identity == "DELIVERED|5|DELIVERED_TO_HANDSET|2026-11-09T16:00:03+00:00"
    bare = DeliveryOutcome(StatusGroup.PENDING)
    assert outcome_identity(bare.to_dict()) == bare.identity
    assert bare.identity == "PENDING|None||"

"""RowMapper reads a stored row into the very event the library's Mapper would make,
with and without encryption and compression, for ids stored as UUIDs or as text, and
for stored events of an older class version (upcast on the way in)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from eventsourcing.cipher import AESCipher
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import DatetimeAsISO, Mapper, MapperDeserialisationError
from eventsourcing.utils import Environment

from smsledger.adapters.store.mapper import RowMapper
from smsledger.adapters.store.transcoder import OrjsonTranscoder
from smsledger.domain.message import Message

AT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


class Versioned(Aggregate):
    class Noted(Aggregate.Event):
        class_version = 2
        note: str
        priority: int

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["priority"] = 0


def transcoder() -> OrjsonTranscoder:
    made = OrjsonTranscoder()
    made.register(DatetimeAsISO())
    return made


def mapper_pairs():
    cipher = AESCipher(Environment(env={"CIPHER_KEY": AESCipher.create_key(16)}))
    for options in ({}, {"cipher": cipher, "compressor": ZlibCompressor()}):
        yield Mapper(transcoder(), **options), RowMapper(transcoder(), **options)


def stored_events(library: Mapper):
    message_id = uuid4()
    requested = Message.Requested(
        originator_id=message_id, originator_version=1, timestamp=AT,
        originator_topic="smsledger.domain.message:Message", project_id="p", message_id="m1",
        integration_id="i", customer_id="c", campaign_id=None, action_id=None,
        recipient="+41793026727", country="CH", sender="Shop", content={"kind": "sms"},
        parts=1, encoding="GSM7", expects_report=True, window_seconds=3600)
    delivered = Message.Delivered(
        originator_id=message_id, originator_version=2, timestamp=AT, late=False,
        outcome={"group": "DELIVERED", "status_id": 5}, received_at=AT)
    return [library.to_stored_event(e) for e in (requested, delivered)]


@pytest.mark.parametrize("pair", list(mapper_pairs()), ids=["plain", "encrypted+compressed"])
def test_a_row_becomes_the_event_the_library_would_make(pair):
    library, rows = pair
    for stored in stored_events(library):
        row = (stored.originator_id, stored.originator_version, stored.topic, stored.state)
        expected = library.to_domain_event(stored)
        for made in (rows.event_from_row(*row), rows.to_domain_event(stored)):
            assert type(made) is type(expected) and vars(made) == vars(expected)


def test_an_id_stored_as_text_comes_back_as_a_uuid():
    library, rows = next(mapper_pairs())
    stored = stored_events(library)[1]
    made = rows.event_from_row(str(stored.originator_id), 2, stored.topic, stored.state)
    assert made.originator_id == stored.originator_id


def test_an_event_of_an_older_class_version_is_upcast():
    rows = RowMapper(transcoder())
    topic = f"{__name__}:Versioned.Noted"
    state = b'{"timestamp": {"_type_": "datetime_iso", "_data_": "2026-11-27T10:00:00+00:00"},'\
            b' "note": "kept"}'
    made = rows.event_from_row(uuid4(), 2, topic, state)
    assert (made.note, made.priority, made.timestamp) == ("kept", 0, AT)


def test_a_state_that_cannot_be_read_names_the_event():
    aggregate_id = uuid4()
    with pytest.raises(MapperDeserialisationError, match=f"{aggregate_id}.*version 3"):
        RowMapper(transcoder()).event_from_row(aggregate_id, 3, "smsledger.domain.message:Message.Enqueued",
                                               b"{not json")

"""Name-based ids are uuid5's, bit for bit: stores written before keep their ids."""

from uuid import NAMESPACE_URL, uuid5

from hypothesis import given
from hypothesis import strategies as st

from smsledger.domain.identifiers import NameBasedIds
from smsledger.domain.message import message_aggregate_id


@given(st.lists(st.text(), min_size=1, max_size=4))
def test_the_ids_are_uuid5_of_the_joined_name(parts):
    ids = NameBasedIds("urn:smsledger:test")
    expected = uuid5(uuid5(NAMESPACE_URL, "urn:smsledger:test"), "\x1f".join(parts))
    assert ids.id_for(*parts) == expected
    assert ids.id_for(*parts).version == 5


def test_a_message_keeps_the_id_it_always_had():
    # Computed with uuid.uuid5 before NameBasedIds existed.
    assert str(message_aggregate_id("acme", "m-1")) == str(
        uuid5(uuid5(NAMESPACE_URL, "urn:smsledger:message"), "acme\x1fm-1"))

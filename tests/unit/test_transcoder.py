"""The orjson transcoder reads and writes the library's JSON format: stores written by
either read with either, whatever the values (and wherever their markers) are."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder
from hypothesis import given
from hypothesis import strategies as st

from smsledger.adapters.store.transcoder import OrjsonTranscoder


def transcoders():
    made = []
    for transcoder in (OrjsonTranscoder(), JSONTranscoder()):
        transcoder.register(DatetimeAsISO())
        transcoder.register(DecimalAsStr())
        made.append(transcoder)
    return made


ORJSON, LIBRARY = transcoders()

moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 1, 1),
                       timezones=st.sampled_from([UTC, timezone(timedelta(hours=2))]))
tricky_text = st.sampled_from(['"_type_"', "_type_", '{"_type_": "datetime_iso"}', "_data_"])
scalars = (st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=10)
           | tricky_text | moments
           | st.decimals(min_value=-10**6, max_value=10**6, places=2))
# A dict of exactly the keys "_type_" and "_data_" is a marker in the library's format
# (neither transcoder could tell one stored as data from a marker), so none is made.
keys = st.text(max_size=8).filter(lambda k: k != "_data_") | st.sampled_from(["_type_",
                                                                              "timestamp"])
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(keys, inner, max_size=4), max_leaves=12)
states = st.fixed_dictionaries({"timestamp": moments},
                               optional={"other": values, "nested": values, "_type_": values})


@given(states)
def test_either_reads_what_either_wrote(state):
    for writer in (ORJSON, LIBRARY):
        data = writer.encode(state)
        assert ORJSON.decode(data) == state
        assert LIBRARY.decode(data) == state


@given(states)
def test_the_shallow_decode_restores_the_timestamp_only(state):
    decoded = ORJSON.decode_shallow(ORJSON.encode(state))
    assert decoded["timestamp"] == state["timestamp"]
    assert set(decoded) == set(state)


def test_a_dict_that_merely_has_a_type_key_is_not_a_marker():
    state = {"timestamp": datetime(2026, 11, 27, tzinfo=UTC),
             "detail": {"_type_": "note", "size": Decimal("1.5")}}
    assert ORJSON.decode(ORJSON.encode(state)) == state

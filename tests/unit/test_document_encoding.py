"""Read-store documents (adapters/store/views.py) are written with orjson and read back
as the json module would: the same values, ASCII text, and documents that the json
module wrote before (NaN included) still read."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsledger.adapters.store.views import decode, encode

scalars = (st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text())
documents = st.dictionaries(st.text(), st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner,
                                                                          max_size=4),
    max_leaves=10), max_size=6)


@given(documents)
def test_a_document_reads_back_as_written_and_as_the_json_module_reads_it(doc):
    text = encode(doc)
    assert text.isascii()
    assert decode(text) == doc == json.loads(text)


@given(documents)
def test_documents_the_json_module_wrote_still_read(doc):
    assert decode(json.dumps(doc)) == doc


def test_keys_that_are_not_strings_become_strings_as_with_the_json_module():
    doc = {1: "a", None: "b", False: "c"}
    assert decode(encode(doc)) == json.loads(json.dumps(doc)) == {"1": "a", "null": "b",
                                                                  "false": "c"}


def test_nan_written_by_earlier_versions_reads():
    assert str(decode('{"cost": NaN}')["cost"]) == "nan"


def test_what_the_json_module_refused_is_refused():
    with pytest.raises(TypeError):
        encode({"at": datetime(2026, 11, 27, tzinfo=UTC)})

"""What the event transcoder cannot write is refused as the input's fault (422 over
HTTP), not left to surface as a TypeError (500); a type without a transcoding is
still our own bug, and says so."""

import pytest
from eventsourcing.persistence import TranscodingNotRegisteredError

from smsledger.adapters.store.refusals import UnstorableValue
from smsledger.adapters.store.transcoder import OrjsonTranscoder


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("value", [10**400, 2**64, "\udc00", nested(300)],
                         ids=["10^400", "2^64", "lone surrogate", "300 levels deep"])
def test_a_value_orjson_cannot_write_is_refused_as_unstorable(value):
    with pytest.raises(UnstorableValue) as refused:
        OrjsonTranscoder().encode({"state": value})
    assert refused.value.code == "unstorable_input"


def test_a_type_without_a_transcoding_is_still_an_error_of_ours():
    with pytest.raises(TypeError) as failed:  # as before: orjson's, with the cause
        OrjsonTranscoder().encode({"state": object()})
    assert isinstance(failed.value.__cause__, TranscodingNotRegisteredError)
    assert not isinstance(failed.value, UnstorableValue)

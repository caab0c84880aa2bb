"""A faster transcoder for stored events: orjson instead of the json module.

Same format as the library's JSONTranscoder (types it cannot write natively stored
as {"_type_": ..., "_data_": ...}), so stores written by either read with either.
Decoding restores those markers in place, walking only into containers: most
values are strings and numbers and cost nothing.

One difference: orjson writes a UUID as a plain string (it has no way to hand UUIDs
to us), so a UUID would come back as a string. No smsledger event carries a UUID
attribute (ids are strings; aggregate ids are stored beside the state, not in it);
tests/unit/test_architecture.py keeps it so.

What orjson cannot write (integers beyond 64 bits, lone surrogates, nesting deeper
than 254 levels) is refused with UnstorableValue (adapters.store.refusals; the HTTP
answer is 422, not 500): input must be checked before it becomes an event (callbacks are, see
smsledger.adapters.infobip.untrusted_json); this is the last line, naming the fault.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

from smsledger.adapters.store.refusals import UnstorableValue

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class OrjsonTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self._encode_obj, option=_OPTIONS)
        except orjson.JSONEncodeError as exc:
            if exc.__cause__ is not None:  # a type with no transcoding: our bug, not input
                raise
            raise UnstorableValue(f"a value cannot be stored: {exc}") from None

    def decode(self, data: bytes) -> Any:
        value = orjson.loads(data)
        # Most events hold one marker, their timestamp: restore just that, without
        # walking the rest. A marker's key can only appear in the JSON as `"_type_"`
        # (inside a string value the quotes would be escaped), so one occurrence and a
        # marker at "timestamp" means there is no other.
        if data.count(b'"_type_"') == 1 and self._restore_timestamp(value):
            return value
        return self._restore(value)

    def decode_shallow(self, data: bytes) -> Any:
        """The stored dict with only its top-level `timestamp` restored; any other
        marker is left as stored. For the replay, which reads a few plain fields of
        every event: restoring the whole state costs more than parsing it."""
        state = orjson.loads(data)
        self._restore_timestamp(state)
        return state

    def _restore_timestamp(self, state: Any) -> bool:
        """Restore a top-level "timestamp" marker in place; whether there was one."""
        timestamp = state.get("timestamp") if type(state) is dict else None
        if type(timestamp) is dict and "_type_" in timestamp:
            state["timestamp"] = self._restore(timestamp)
            return True
        return False

    def _restore(self, value: Any) -> Any:
        if type(value) is dict:
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                if value["_type_"] == "datetime_iso":  # nearly every marker: no lookup
                    return datetime.fromisoformat(value["_data_"])
                return self._decode_obj(value)
            for key, item in value.items():
                if type(item) is dict or type(item) is list:
                    value[key] = self._restore(item)
            return value
        if type(value) is list:
            return [self._restore(item) if type(item) in (dict, list) else item for item in value]
        return value

"""The library's Mapper, able to read an event straight from a stored row (the
application's EventDecoder port).

Loading the messages of a 100-report callback turns some 200 rows into events. The
library's way first wraps each row in a StoredEvent (a frozen dataclass, slow to
build) and looks up its class and class version per row; here the row's values
are used as they are and each topic's class is looked up once. Deciphering,
decompressing, decoding and upcasting are the library's steps, in its order
(tests/unit/test_row_mapper.py holds the two ways to the same events).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    find_id_convertor,
)
from eventsourcing.utils import resolve_topic


class RowMapper(Mapper):  # type: ignore[type-arg]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._classes: dict[str, tuple[type, int]] = {}  # topic -> (class, class_version)
        self._decode_shallow: Callable[[bytes], dict[str, Any]] = getattr(
            self.transcoder, "decode_shallow", self.transcoder.decode)
        # A stored state's attributes without building the event: deciphered and
        # decompressed, `timestamp` restored, every other value as stored (the
        # OrjsonTranscoder's decode_shallow; the library's transcoders decode it all).
        # The replay decodes a million states: without a cipher or a compressor, the
        # transcoder's own method answers them, one call less each.
        self.decode_state: Callable[[bytes], dict[str, Any]] = (
            self._decode_shallow if not self.cipher and not self.compressor
            else self._decode_plain)

    def _decode_plain(self, state: bytes) -> dict[str, Any]:
        return self._decode_shallow(self.plain_state(state))

    def plain_state(self, state: bytes) -> bytes:
        """Deciphered and decompressed, as the library's mapper reads a state."""
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        return state

    def sealed_state(self, plain: bytes) -> bytes:
        """Compressed and enciphered, as the library's mapper stores a state."""
        if self.compressor:
            plain = self.compressor.compress(plain)
        return self.cipher.encrypt(plain) if self.cipher else plain

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        return self.event_from_row(stored_event.originator_id, stored_event.originator_version,
                                   stored_event.topic, stored_event.state)

    def event_from_row(self, originator_id: UUID | str, originator_version: int, topic: str,
                       state: bytes) -> Any:
        try:
            cls, class_version = self._classes[topic]
        except KeyError:
            cls = resolve_topic(topic)
            cls, class_version = self._classes.setdefault(
                topic, (cls, getattr(cls, "class_version", 1)))
        try:
            event_state: dict[str, Any] = self.transcoder.decode(self.plain_state(state))
        except Exception as e:
            raise MapperDeserialisationError(
                f"Failed to deserialise state of stored event with topic '{topic}', "
                f"originator_id '{originator_id}' and originator_version "
                f"{originator_version}: {e}") from e
        # The convertor is cached per (class, id type); the id type is a class, so hashable.
        id_type: Any = type(originator_id)
        event_state["originator_id"] = find_id_convertor(cls, id_type)(originator_id)
        event_state["originator_version"] = originator_version
        from_version = event_state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
            from_version += 1
        event: Any = object.__new__(cls)
        object.__setattr__(event, "__dict__", event_state)
        return event

"""Name-based (version 5) ids: the same name always gives the same id, so storing the
same thing twice collides instead of duplicating it.

`uuid.uuid5` recomputes its namespace's bytes on every call, about half of its cost;
ids are made for every report and every message sent, so each namespace keeps its
bytes. The ids are uuid5's, bit for bit (tests/unit/test_identifiers.py).
"""

from __future__ import annotations

from hashlib import sha1
from uuid import NAMESPACE_URL, UUID, uuid5


class NameBasedIds:
    def __init__(self, urn: str) -> None:
        self.namespace = uuid5(NAMESPACE_URL, urn)
        self._namespace_bytes = self.namespace.bytes

    def id_for(self, *parts: str) -> UUID:
        """The id of the name made of `parts`, joined by the unit separator (U+001F)."""
        name = "\x1f".join(parts)
        return UUID(bytes=sha1(self._namespace_bytes + name.encode()).digest()[:16], version=5)

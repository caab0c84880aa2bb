"""How many SMS parts a text takes, as operators bill it.

One SMS carries 160 GSM-7 septets or 70 UCS-2 code units. A longer text is sent
as a concatenated message whose parts each lose room to the concatenation header:
153 septets or 67 code units. A GSM-7 extension character is an escape plus a
septet, and a character outside the Basic Multilingual Plane is a UTF-16
surrogate pair; neither pair may be split across two parts, so parts are filled
greedily rather than by dividing the total.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from smsledger.domain.errors import EmptyContent

# GSM 03.38 basic character set (the escape code itself is not a character).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# GSM 03.38 extension table: each costs two septets (escape + character).
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

SINGLE_PART_SEPTETS = 160
MULTI_PART_SEPTETS = 153
SINGLE_PART_UCS2_UNITS = 70
MULTI_PART_UCS2_UNITS = 67


class Encoding(str, Enum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class PartCount:
    parts: int
    encoding: Encoding
    characters: int
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2

    def describe(self) -> str:
        noun = "part" if self.parts == 1 else "parts"
        return f"{self.parts} {noun}, {self.encoding.value}, {self.characters} characters"


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


@lru_cache(maxsize=1024)
def count_parts(text: str) -> PartCount:
    # Cached: a campaign sends one text to every recipient, and counting walks every
    # character. PartCount is immutable, so sharing one result is safe.
    if not text:
        raise EmptyContent("an SMS text must not be empty")
    if is_gsm7(text):
        costs = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        encoding, single, multi = Encoding.GSM7, SINGLE_PART_SEPTETS, MULTI_PART_SEPTETS
    else:
        costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        encoding, single, multi = Encoding.UCS2, SINGLE_PART_UCS2_UNITS, MULTI_PART_UCS2_UNITS
    units = sum(costs)
    if units <= single:
        parts = 1
    else:
        parts = _fill_parts(costs, multi)
    return PartCount(parts=parts, encoding=encoding, characters=len(text), units=units)


def _fill_parts(costs: list[int], capacity: int) -> int:
    parts, used = 1, 0
    for cost in costs:
        if used + cost > capacity:
            parts, used = parts + 1, 0
        used += cost
    return parts

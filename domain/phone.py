"""Phone numbers as E.164, validated by Google's libphonenumber rules."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

from smsledger.domain.errors import InvalidPhoneNumber


@dataclass(frozen=True)
class PhoneNumber:
    e164: str  # "+41793026727"
    country: str | None  # ISO 3166-1 alpha-2, None for non-geographic numbers

    @classmethod
    def parse(cls, raw: str) -> PhoneNumber:
        """Accept "+41793026727", "41793026727" (Infobip's form) or with spaces and dashes."""
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidPhoneNumber(f"phone number must be a non-empty string, got {raw!r}")
        text = raw.strip()
        if not text.startswith("+"):
            text = "+" + text
        try:
            parsed = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException as exc:
            raise InvalidPhoneNumber(f"{raw!r} is not a phone number: {exc}") from None
        if not phonenumbers.is_valid_number(parsed):
            raise InvalidPhoneNumber(
                f"{raw!r} is not a valid phone number in international format"
            )
        country = phonenumbers.region_code_for_number(parsed)
        return cls(
            e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
            country=None if country in (None, "001", "ZZ") else country,
        )

    @property
    def digits(self) -> str:
        """The number as Infobip wants it: international format without the '+'."""
        return self.e164[1:]

    def __str__(self) -> str:
        return self.e164

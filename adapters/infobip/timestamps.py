"""Infobip's timestamps: "2026-11-09T16:00:03.000+0000" (and ISO 8601 variants)."""

from __future__ import annotations

from datetime import datetime, timezone

INFOBIP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"


def parse_infobip_time(value: object) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"timestamp {value!r} is not a string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = datetime.strptime(value, INFOBIP_FORMAT)
        except ValueError:
            raise ValueError(f"timestamp {value!r} is not in Infobip's format") from None
    # Infobip always sends an offset; a bare time is read as UTC rather than refused.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def format_infobip_time(moment: datetime) -> str:
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"

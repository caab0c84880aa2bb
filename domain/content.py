"""What a message says: an SMS text, or an MMS title, text and media links."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from smsledger.domain.errors import EmptyContent, InvalidContent
from smsledger.domain.parts import PartCount, count_parts

MMS_TITLE_MAX = 66


@dataclass(frozen=True)
class SmsContent:
    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise EmptyContent("an SMS text must not be empty")

    @property
    def kind(self) -> str:
        return "sms"

    def part_count(self) -> PartCount:
        return count_parts(self.text)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "sms", "text": self.text}


@dataclass(frozen=True)
class MmsContent:
    title: str
    text: str = ""
    media_urls: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "media_urls", tuple(self.media_urls))
        if not isinstance(self.title, str) or not self.title.strip():
            raise EmptyContent("an MMS title must not be empty")
        if len(self.title) > MMS_TITLE_MAX:
            raise InvalidContent(
                f"an MMS title has at most {MMS_TITLE_MAX} characters, got {len(self.title)}"
            )
        if not self.text.strip() and not self.media_urls:
            raise EmptyContent("an MMS needs a text or at least one media URL")
        for url in self.media_urls:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise InvalidContent(f"media URL {url!r} must be an absolute http(s) URL")

    @property
    def kind(self) -> str:
        return "mms"

    def part_count(self) -> PartCount:
        # An MMS travels as one message whatever its length; the count is kept
        # for the text so authors still see the encoding.
        counted = count_parts(self.text) if self.text else count_parts(self.title)
        return PartCount(parts=1, encoding=counted.encoding, characters=counted.characters,
                         units=counted.units)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "mms", "title": self.title, "text": self.text,
                "media_urls": list(self.media_urls)}


Content = SmsContent | MmsContent


def content_from_dict(data: dict[str, Any]) -> Content:
    if data.get("kind") == "mms":
        return MmsContent(title=data["title"], text=data.get("text", ""),
                          media_urls=tuple(data.get("media_urls", ())))
    return SmsContent(text=data["text"])

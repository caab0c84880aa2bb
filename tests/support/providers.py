"""A scripted SMS provider: the provider port answered by the test, not by Infobip.

It stands in for the port only; the real Infobip adapter is tested against the
simulator over HTTP elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from smsledger.application.ports import Accepted, OutgoingMessage, SendOutcome, SmsProvider

Answer = Callable[[OutgoingMessage], SendOutcome]


def accept(message: OutgoingMessage) -> SendOutcome:
    return Accepted(message.message_id, parts=message.content.part_count().parts)


class ScriptedProvider(SmsProvider):
    def __init__(self, answer: Answer = accept) -> None:
        self.answer = answer
        self.batches: list[list[OutgoingMessage]] = []

    def send(self, messages: Sequence[OutgoingMessage]) -> Sequence[SendOutcome]:
        self.batches.append(list(messages))
        return [self.answer(m) for m in messages]

    @property
    def sent(self) -> list[OutgoingMessage]:
        return [m for batch in self.batches for m in batch]

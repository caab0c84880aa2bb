"""Campaign audit: the funnel of one campaign, recomputed by replaying its stored events.

The campaign_index projection names the campaign's messages and the replies
attributed to it; the audit reads those aggregates' stored events (never a
projection's documents) and folds them, so its cost follows the campaign, not the
store or other projects. `whole_store=True` replays every message event of the store
instead, as the audit did before the index: the same fold, so the two must agree
(a check that the index missed nothing, at the whole store's cost). With `as_of`,
events stamped later are left out: the campaign as it stood at that moment. The
funnel arithmetic is shared with the statistics projection
(smsledger.application.funnel); `drift` lists where the two disagree.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from smsledger.application.aggregates import AggregateStore
from smsledger.application.funnel import Funnel, MessageState
from smsledger.application.errors import CampaignNotFound, ProjectNotFound
from smsledger.application.queries import Queries
from smsledger.domain.inbound import InboundMessage
from smsledger.domain.message import Message

# What the audit replays: every event class that moves a message in its funnel, and
# replies (NPS scores). The replay reads their stored state as it is (no upcasting):
# tests/unit/test_architecture.py keeps these classes at class_version 1.
AUDITED_EVENTS = {
    get_topic(cls): cls for cls in (Message.Requested, Message.Enqueued, Message.EnqueueFailed,
                                    Message.Delivered, Message.Rejected, Message.Failed,
                                    Message.WindowClosed, InboundMessage.Received)
}
MESSAGE_TOPICS = tuple(AUDITED_EVENTS)
_ALWAYS_READ = frozenset({get_topic(Message.Requested), get_topic(InboundMessage.Received)})
# Aggregates whose events one query reads: big enough that a campaign costs few
# round trips, small enough that a query's rows stay a few megabytes.
_AGGREGATES_PER_READ = 2000


class Auditing:
    def __init__(self, store: AggregateStore, queries: Queries) -> None:
        self.store = store
        self.queries = queries

    def audit(self, project_id: str, campaign_id: str, as_of: datetime | None = None, *,
              whole_store: bool = False,
              progress: Callable[[int, int], None] | None = None,
              fold: CampaignAuditFold | None = None) -> CampaignAudit:
        """Replay the campaign's events (with `whole_store`, every message event) and
        count its funnel; without `as_of`, also compare it with the live statistics
        projection. CampaignNotFound when no message was ever requested for the
        campaign (ProjectNotFound when the project is not known either): a typo gets
        an error, not a believable zero. `progress(aggregates read, aggregates)`
        follows the campaign's replay read by read (the command line's bar; not
        called with `whole_store`)."""
        messages, replies = self.queries.campaign_members(project_id, campaign_id)
        if not messages:
            if self.queries.is_unknown_project(project_id):
                raise ProjectNotFound(f"no project {project_id!r}")
            raise CampaignNotFound(f"no message was ever requested for campaign "
                                   f"{campaign_id!r} of project {project_id!r}")
        # The campaign report passes a fold of its own (a CampaignAuditFold that also
        # keeps what the report shows): one replay, so its figures are the audit's.
        fold = fold or CampaignAuditFold(project_id, campaign_id, as_of)
        with cycle_collector_paused():
            if whole_store:
                self._replay_whole_store(fold)
            else:
                self._replay_campaign(fold, messages, replies, progress)
        audit = fold.result()
        if as_of is None:
            audit = replace(audit, drift=audit.drift_from(
                self.queries.statistics(project_id, campaign_id)))
        return audit


    def _replay_campaign(self, fold: CampaignAuditFold, messages: list[UUID],
                         replies: list[UUID],
                         progress: Callable[[int, int], None] | None = None) -> None:
        """The events of the campaign's messages, then of its replies, each aggregate's
        in version order and the aggregates in the order they were stored (a
        respondent's latest score is the one that counts)."""
        fields_of = self.store.decoder.decode_state
        total, read = len(messages) + len(replies), 0
        for ids in (messages, replies):
            for start in range(0, len(ids), _AGGREGATES_PER_READ):
                chunk = ids[start:start + _AGGREGATES_PER_READ]
                stored_order = {aggregate_id: index for index, aggregate_id in enumerate(chunk)}
                rows = sorted(self.store.rows.select_event_rows(chunk),
                              key=lambda row: (stored_order[row[0]], row[1]))
                for originator_id, _, topic, state in rows:
                    kind = AUDITED_EVENTS.get(topic)
                    if kind is not None:  # hand-overs, noted reports: not in the funnel
                        fold.apply(kind, originator_id, fields_of(state))
                read += len(chunk)
                if progress is not None:
                    progress(read, total)

    def _replay_whole_store(self, fold: CampaignAuditFold) -> None:
        fields_of = self.store.decoder.decode_state
        for _, originator_id, topic, state in self.store.notification_rows(MESSAGE_TOPICS):
            # Only creations (which say the campaign) and replies are read from every
            # message; the other events only for the campaign's own messages.
            if topic in _ALWAYS_READ or fold.follows(originator_id):
                fold.apply(AUDITED_EVENTS[topic], originator_id, fields_of(state))


@dataclass(frozen=True)
class CampaignAudit:
    project_id: str
    campaign_id: str
    counts: dict[str, int]
    parts: int
    cost: dict[str, str]  # currency -> amount, as a decimal string
    as_of: datetime | None = None
    drift: list[str] = field(default_factory=list)
    nps: dict[str, Any] | None = None  # for NPS surveys: responses and the score

    def to_dict(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "campaign_id": self.campaign_id,
                **self.counts, "parts": self.parts, "cost": dict(self.cost),
                "as_of": self.as_of.isoformat() if self.as_of else None,
                "drift": list(self.drift), "nps": self.nps}

    def drift_from(self, statistics: Funnel) -> list[str]:
        """Where a live statistics funnel disagrees with this replay."""
        differences = [
            f"{key}: replay {value}, statistics {statistics.counts.get(key, 0)}"
            for key, value in self.counts.items() if statistics.counts.get(key, 0) != value]
        if statistics.parts != self.parts:
            differences.append(f"parts: replay {self.parts}, statistics {statistics.parts}")
        if statistics.cost_strings() != self.cost:
            differences.append(f"cost: replay {self.cost}, statistics {statistics.cost_strings()}")
        return differences


class CampaignAuditFold:
    def __init__(self, project_id: str, campaign_id: str, as_of: datetime | None = None):
        self.project_id = project_id
        self.campaign_id = campaign_id
        self.as_of = as_of
        self._messages: dict[UUID, MessageState] = {}
        self._scores: dict[str, int] = {}  # respondent -> latest score

    def apply(self, kind: type, originator_id: Any, fields: Mapping[str, Any]) -> None:
        """An event of class `kind` of aggregate `originator_id`, given its attributes
        (see MessageState.apply_fields: only `timestamp` need be a datetime)."""
        if self.as_of is not None and fields["timestamp"] > self.as_of:
            return
        if kind is InboundMessage.Received:
            if (fields["project_id"] == self.project_id
                    and fields["campaign_id"] == self.campaign_id
                    and fields["nps_score"] is not None):
                self._scores[fields["customer_id"] or fields["sender"]] = fields["nps_score"]
            return
        if kind is Message.Requested:
            if fields["project_id"] == self.project_id and fields["campaign_id"] == self.campaign_id:
                self._messages[originator_id] = MessageState.counted(fields["parts"])
            return
        state = self._messages.get(originator_id)
        if state is not None:
            state.apply_fields(kind, fields)

    def follows(self, originator_id: UUID) -> bool:
        """Whether events of this aggregate matter: the replay skips decoding the rest."""
        return originator_id in self._messages

    def result(self) -> CampaignAudit:
        funnel = Funnel.empty()
        for state in self._messages.values():
            funnel.add(state)
        return CampaignAudit(project_id=self.project_id, campaign_id=self.campaign_id,
                             counts=funnel.counts, parts=funnel.parts,
                             cost=funnel.cost_strings(), as_of=self.as_of,
                             nps=net_promoter_score(list(self._scores.values())))


def net_promoter_score(scores: list[int]) -> dict[str, Any] | None:
    """Promoters answer 9-10, detractors 0-6; the score is the difference of their shares."""
    if not scores:
        return None
    promoters = sum(score >= 9 for score in scores)
    detractors = sum(score <= 6 for score in scores)
    return {"responses": len(scores), "promoters": promoters,
            "passives": len(scores) - promoters - detractors, "detractors": detractors,
            "score": round(100 * (promoters - detractors) / len(scores), 1)}


_collector_pauses = 0  # replays running that paused the cycle collector
_collector_pauses_lock = threading.Lock()
_collector_was_enabled = False


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """The replay keeps a small state per message of the campaign: hundreds of
    thousands of objects that live until it ends, so Python's cycle collector would
    rescan all of them again and again (a fifth of a 1,000,000-event replay). Nothing
    the replay makes holds a reference cycle, so reference counting frees all of it
    anyway. The switch is the whole process's: the first replay to start turns the
    collector off (if it was on), the last to end turns it back on, so other threads
    are without it only while a replay runs."""
    global _collector_pauses, _collector_was_enabled
    with _collector_pauses_lock:
        if _collector_pauses == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _collector_pauses += 1
    try:
        yield
    finally:
        with _collector_pauses_lock:
            _collector_pauses -= 1
            if _collector_pauses == 0 and _collector_was_enabled:
                gc.enable()

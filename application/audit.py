"""Campaign audit: the funnel of one campaign, recomputed by replaying the store.

The fold reads message events in the store's order and keeps only the running
state of the campaign's messages, so memory grows with the campaign, not the
store. With `as_of`, events stamped later are left out: the campaign as it stood
at that moment. The funnel arithmetic is shared with the statistics projection
(smsledger.application.funnel); `drift` lists where the two disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from smsledger.application.funnel import Funnel, MessageState
from smsledger.domain.inbound import InboundMessage
from smsledger.domain.message import Message


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

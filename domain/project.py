"""Project settings as an event-sourced aggregate: what changed, when, and by whom."""

from __future__ import annotations

import re
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.campaign_events import DEFAULT_EVENT_NAME
from domain.errors import InvalidEventName

_PROJECT_NAMESPACE = uuid5(NAMESPACE_URL, "urn:smsledger:project-settings")

# Names other platforms use look like "campaign", "users.messages.sms.Delivery" or
# "SMS Delivered": letters, digits, spaces and a little punctuation, at most 128.
_EVENT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\- ]{0,126}[A-Za-z0-9_]$|^[A-Za-z0-9_]$")


def project_settings_id(project_id: str) -> UUID:
    return uuid5(_PROJECT_NAMESPACE, project_id)


def validate_event_name(name: object) -> str:
    if not isinstance(name, str) or not _EVENT_NAME.match(name):
        raise InvalidEventName(
            f"campaign event name {name!r} must be 1-128 letters, digits, spaces or '_.:-', "
            "not starting or ending with a space or punctuation"
        )
    return name


class ProjectSettings(Aggregate):
    class Started(Aggregate.Created):
        project_id: str

        def apply(self, settings: ProjectSettings) -> None:
            settings.project_id = self.project_id
            settings.campaign_event_name = DEFAULT_EVENT_NAME

    class CampaignEventRenamed(Aggregate.Event):
        name: str
        changed_by: str

        def apply(self, settings: ProjectSettings) -> None:
            settings.campaign_event_name = self.name

    @classmethod
    def start(cls, project_id: str, *, at: datetime) -> ProjectSettings:
        return cls._create(cls.Started, id=project_settings_id(project_id), timestamp=at,
                           project_id=project_id)

    def rename_campaign_event(self, name: str, *, changed_by: str, at: datetime) -> None:
        validate_event_name(name)
        if name != self.campaign_event_name:
            self.trigger_event(self.CampaignEventRenamed, timestamp=at, name=name,
                               changed_by=changed_by)

"""Builders for calendar tests: events made through the services, as every caller makes them."""

from datetime import datetime

import factory

from timeline.events import services
from timeline.events.models import Event
from traf3li.crm.tests.factories import CaseFactory


class EventFactory(factory.Factory):
    """``EventFactory(organizer=user, start=…)``: an event created by ``event_create``.

    ``attendees``, ``agenda`` and ``action_items`` go to the service as lists; the rest is the event's data.
    """

    class Meta:
        model = Event

    title = factory.Sequence(lambda n: f"Meeting {n}")
    type = "meeting"
    timezone = "Asia/Riyadh"
    start = datetime(2026, 3, 2, 9, 0)
    end = datetime(2026, 3, 2, 10, 0)

    @classmethod
    def _create(cls, model_class, *, attendees=(), agenda=(), action_items=(), actor=None, **data):
        actor = actor or data.get("organizer")
        return services.event_create(
            data=data, attendees=list(attendees), agenda=list(agenda), action_items=list(action_items), actor=actor
        )


__all__ = ["CaseFactory", "EventFactory"]

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EventsConfig(AppConfig):
    """The calendar: hearings, meetings and deadlines, with recurrence, RSVP and an iCalendar feed."""

    name = "timeline.events"
    label = "events"
    verbose_name = _("Calendar")

    def ready(self):
        from audit.choices import action_register
        from audit.services import snapshot_omit_register
        from traf3li.core.registries import case_of_register, hierarchy_register
        from traf3li.core.subjects import SubjectRef, subject_register

        subject_register("event", "events.Event")
        for name, label in {
            "attendee": "events.Attendee",
            "agenda_item": "events.AgendaItem",
            "action_item": "events.ActionItem",
            "calendar_feed": "events.FeedToken",
        }.items():
            subject_register(name, label, public=False)
        # An event's entries and activities show on its case's and that case's client's 360° views.
        hierarchy_register(
            "event",
            lambda event: (
                [SubjectRef("case", event.case_id), SubjectRef("client", event.case.client_id)] if event.case_id else []
            ),
        )
        case_of_register("event", lambda ref, event: (event or ref.resolve()).case_id)
        # The span is derived from the instants (a generated column): the audit keeps what it is made of.
        snapshot_omit_register("events.Event", ["span"])
        action_register("cancel_event", _("A calendar event or one of its occurrences was cancelled"))
        action_register("issue_calendar_feed", _("A calendar feed URL was issued"))
        action_register("remind_event", _("A calendar event's reminder was sent"))
        from timeline.events import privacy

        privacy.register()  # the privacy data map: events and attendees

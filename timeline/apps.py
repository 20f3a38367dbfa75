from django.apps import AppConfig


class TimelineConfig(AppConfig):
    """The unified timeline: every channel's entries, 360° views, search and stats."""

    name = "timeline"

    def ready(self):
        from timeline.hierarchy import hierarchy_register
        from traf3li.core.subjects import SubjectRef, subject_register

        # The audit log names entries like any other record.
        subject_register("entry", "timeline.Entry", public=False)
        # A contact's and a case's entries also show on their client's 360° view.
        hierarchy_register("contact", lambda contact: [SubjectRef("client", contact.client_id)])
        hierarchy_register("case", lambda case: [SubjectRef("client", case.client_id)])

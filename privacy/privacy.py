"""The privacy data map's entries for Django's own models, which no app of ours owns."""

from django.contrib.admin.models import LogEntry

from traf3li.core.privacy import privacy_register_rows


def register() -> None:
    # The admin's change log quotes a record's name (``object_repr``) and its changed fields.
    privacy_register_rows(LogEntry, scrubbed=("object_repr", "change_message"), exported=("action_time",))

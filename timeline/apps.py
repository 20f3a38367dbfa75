from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TimelineConfig(AppConfig):
    """The unified timeline: every channel's entries, 360° views, search and stats."""

    name = "timeline"
    verbose_name = _("Timeline")

    def ready(self):
        from timeline import receivers, recorders  # noqa: F401 (importing receivers connects them: timezone changes)
        from traf3li.core.citus import column_statistics_register
        from traf3li.core.registries import admin_index_register
        from traf3li.core.subjects import subject_register
        from traf3li.crm import signals as crm_signals

        # The audit log names entries like any other record.
        subject_register("entry", "timeline.Entry", public=False)
        # What crm writes put on the timeline (crm sends, the timeline listens: crm never imports it).
        crm_signals.record_created.connect(recorders.record_created, dispatch_uid="timeline.crm.record_created")
        crm_signals.record_updated.connect(recorders.record_updated, dispatch_uid="timeline.crm.record_updated")
        admin_index_register(_activity_counters)
        # Set by migration 0002; citus_setup sets it again on shards that moved (traf3li.core.citus).
        column_statistics_register("timeline_entry", "search", 1000)
        from timeline import privacy

        privacy.register()  # the privacy data map: where entries keep personal data


def _activity_counters(request) -> dict:
    """The SLA counters (firm-wide and the signed-in user's) head the firm's admin index page."""
    from timeline.activities.selectors import admin_index_counters

    return {"activity_counters": admin_index_counters(user=request.user)}

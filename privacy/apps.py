from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    """Erasure and export of a person's data, across every app, by the privacy data map."""

    name = "privacy"
    verbose_name = _("Privacy")

    def ready(self):
        from audit.choices import action_register
        from privacy import privacy

        action_register("retention_purge", _("What the retention purge removed: counts, range and digest"))
        privacy.register()  # the map's entries for Django's own models (the admin's change log)

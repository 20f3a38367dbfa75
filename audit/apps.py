from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("Audit log")

    def ready(self):
        from audit import privacy

        privacy.register()  # the privacy data map: the log's payloads, redacted by audit_erase

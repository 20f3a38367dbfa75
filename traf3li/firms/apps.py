from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FirmsConfig(AppConfig):
    name = "traf3li.firms"
    label = "firms"
    verbose_name = _("Firms")

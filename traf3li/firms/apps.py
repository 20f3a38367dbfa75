from django.apps import AppConfig


class FirmsConfig(AppConfig):
    name = "traf3li.firms"
    label = "firms"

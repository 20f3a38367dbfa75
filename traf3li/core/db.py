"""Which database alias runs DDL: the owner's when one is configured, else the default one."""

from django.conf import settings


def owner_alias() -> str:
    """The alias whose role owns the tables (migrations, firm creation, partition upkeep)."""
    return "owner" if "owner" in settings.DATABASES else "default"

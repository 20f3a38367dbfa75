"""Reads of firms: the current one, and each in turn for the commands that walk them (``audit_verify``)."""

from collections.abc import Iterator

from django.core.management.base import CommandError
from django.db import connection
from django_tenants.utils import get_public_schema_name, schema_context

from traf3li.firms.models import Firm

ERROR_UNKNOWN_FIRM = "No firm with slug '{slug}'."


def firms_walk(slug: str | None = None) -> Iterator[Firm]:
    """Every firm (or the one ``slug`` names), by slug, each yielded with the connection in its schema."""
    firms = Firm.objects.exclude(schema_name=get_public_schema_name()).order_by("slug")
    if slug:
        firms = firms.filter(slug=slug)
        if not firms.exists():
            raise CommandError(ERROR_UNKNOWN_FIRM.format(slug=slug))
    try:
        for firm in firms:
            with schema_context(firm.schema_name):
                connection.set_tenant(firm)
                yield firm
    finally:
        connection.set_schema_to_public()


def firm_current(*, fresh: bool = False) -> Firm:
    """The firm the connection is in, with its fields (``schema_context`` installs a stand-in that
    has none). ``fresh`` reads the row again, for settings the caller must not take from a cached
    tenant (retention's)."""
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Firm) and not fresh:
        return tenant
    return Firm.objects.get(schema_name=connection.schema_name)

"""Text the product writes once and keeps (timeline titles): in the firm's language, not the reader's.

A system entry's title is stored, searched and shown as written, so it is written in the firm's
default language (English when the firm has none), whoever's request or task wrote it.
"""

from contextlib import contextmanager

from django.conf import settings
from django.db import connection
from django.utils import translation


def firm_language_code() -> str:
    tenant = getattr(connection, "tenant", None)
    if tenant is not None and not hasattr(tenant, "language"):
        # schema_context (commands, tests) sets a stand-in tenant that knows only its schema.
        from django_tenants.utils import get_tenant_model

        tenant = get_tenant_model().objects.filter(schema_name=connection.schema_name).only("language").first()
    return getattr(tenant, "language", "") or settings.LANGUAGE_CODE


@contextmanager
def in_firm_language():
    with translation.override(firm_language_code()):
        yield

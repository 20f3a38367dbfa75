# The product's own role (ADR 0062): the shared tables in the public schema are read and written
# by it, never owned. Firm schemas get theirs from the audit migration that seals the audit log.

from django.db import migrations

from traf3li.core.db import roles_ensure, schema_grant


def grant_public(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        roles_ensure(cursor)
        schema_grant(cursor, "public")


class Migration(migrations.Migration):
    dependencies = [("firms", "0006_firm_retention")]

    operations = [migrations.RunPython(grant_public, migrations.RunPython.noop, elidable=False)]

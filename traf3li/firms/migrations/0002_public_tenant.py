from django.conf import settings
from django.db import migrations


def create_public_tenant(apps, schema_editor):
    """django-tenants routes the bare BASE_DOMAIN through a tenant row for the public schema."""
    Firm = apps.get_model("firms", "Firm")
    Domain = apps.get_model("firms", "Domain")
    firm, _ = Firm.objects.get_or_create(
        schema_name="public", defaults={"slug": "public", "name": "Traf3li platform", "timezone": "UTC"}
    )
    Domain.objects.get_or_create(domain=settings.BASE_DOMAIN, defaults={"tenant": firm, "is_primary": True})


class Migration(migrations.Migration):
    dependencies = [("firms", "0001_initial")]
    operations = [migrations.RunPython(create_public_tenant, migrations.RunPython.noop)]

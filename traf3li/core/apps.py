from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting plumbing: request context, subject references, health."""

    name = "traf3li.core"
    label = "core"

    def ready(self):
        # pgtrigger swaps the makemigrations autodetector; django-tenants' migrate_schemas must
        # use the same one or every manage.py command fails check commands.E001 (docs/stack-notes.md trap 1).
        from django.core.management.commands import makemigrations
        from django_tenants.management.commands.migrate_schemas import MigrateSchemasCommand

        MigrateSchemasCommand.autodetector = makemigrations.Command.autodetector

        # A firm or domain saved or deleted: every process forgets which firm a host is (ADR 0034).
        from django.db.models.signals import post_delete, post_save
        from django_tenants.utils import get_tenant_domain_model, get_tenant_model

        from traf3li.core.tenant_cache import tenant_cache_forget

        for model in (get_tenant_model(), get_tenant_domain_model()):
            post_save.connect(tenant_cache_forget, sender=model, dispatch_uid=f"tenant-cache-{model._meta.label}")
            post_delete.connect(tenant_cache_forget, sender=model, dispatch_uid=f"tenant-cache-del-{model._meta.label}")

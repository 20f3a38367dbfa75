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

        # Failed logins, at the API's token endpoint and the admin's login page, are counted (throttle).
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from traf3li.core import throttle

        user_login_failed.connect(throttle.on_login_failed, dispatch_uid="login-throttle-failed")
        user_logged_in.connect(throttle.on_logged_in, dispatch_uid="login-throttle-ok")

        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save
        from django_tenants.utils import get_tenant_domain_model, get_tenant_model

        from traf3li.api.authentication import tokens
        from traf3li.core.tenant_cache import tenant_cache_forget
        from traf3li.users.models import ApiToken

        # A token or a user saved or deleted (revoked, deactivated, a new role): tokens are looked up again.
        for model in (ApiToken, get_user_model()):
            post_save.connect(tokens.forget, sender=model, dispatch_uid=f"token-cache-{model._meta.label}")
            post_delete.connect(tokens.forget, sender=model, dispatch_uid=f"token-cache-del-{model._meta.label}")

        # A firm or domain saved or deleted: every process forgets which firm a host is (ADR 0034).
        for model in (get_tenant_model(), get_tenant_domain_model()):
            post_save.connect(tenant_cache_forget, sender=model, dispatch_uid=f"tenant-cache-{model._meta.label}")
            post_delete.connect(tenant_cache_forget, sender=model, dispatch_uid=f"tenant-cache-del-{model._meta.label}")

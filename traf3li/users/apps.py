from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _sync_roles_after_migrate(sender, using, **kwargs):
    """Each firm schema gets its role groups, and its users their role's rights, after every migration.

    ``migrate_schemas`` migrates one schema at a time with the connection set to it; the public
    schema holds platform operators, who have no roles.
    """
    from django.db import connections
    from django_tenants.utils import get_public_schema_name

    from traf3li.users.services import user_roles_sync

    if getattr(connections[using], "schema_name", None) in (None, get_public_schema_name()):
        return
    user_roles_sync()


class UsersConfig(AppConfig):
    name = "traf3li.users"
    label = "users"
    verbose_name = _("Users")

    def ready(self):
        post_migrate.connect(_sync_roles_after_migrate, sender=self, dispatch_uid="users.sync_roles_after_migrate")

        from audit.choices import action_register
        from audit.services import snapshot_omit_register
        from traf3li.core.subjects import subject_register

        # API tokens (ADR 0036): issuing and revoking one is audited, without its hash.
        subject_register("api_token", "users.ApiToken", public=False)
        snapshot_omit_register("users.ApiToken", ["token_hash"])
        action_register("issue_api_token", _("An API token was issued"))
        action_register("revoke_api_token", _("An API token was revoked"))
        action_register("prune_api_tokens", _("Long-dead API tokens were deleted"))

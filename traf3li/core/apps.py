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

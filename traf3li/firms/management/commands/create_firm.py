from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from traf3li.core.context import command_context
from traf3li.firms.services import firm_create


class Command(BaseCommand):
    help = "Create a firm (schema, domain, admin). Running it twice changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--timezone", default="Asia/Riyadh")
        parser.add_argument("--admin-username")
        parser.add_argument("--admin-password")
        parser.add_argument("--admin-email", default="")

    def handle(self, *args, **opts):
        if opts["admin_username"] and not opts["admin_password"]:
            raise CommandError("--admin-password is required with --admin-username")
        with command_context("create_firm"):
            try:
                result = firm_create(
                    slug=opts["slug"],
                    name=opts["name"],
                    timezone=opts["timezone"],
                    admin_username=opts["admin_username"],
                    admin_password=opts["admin_password"],
                    admin_email=opts["admin_email"],
                )
            except (ValueError, ValidationError) as exc:
                raise CommandError(str(exc))
        state = "created" if result.created else "already exists, unchanged"
        self.stdout.write(f"Firm {result.firm.schema_name}: {state}")
        if result.admin_created:
            self.stdout.write(f"Admin {opts['admin_username']} created")

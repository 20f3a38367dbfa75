from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django_tenants.utils import get_public_schema_name, schema_context

from traf3li.core.context import command_context


class Command(BaseCommand):
    help = (
        "Create the platform's superuser (firms and domains, at /admin/ on the bare domain). "
        "Running it again changes nothing unless --reset-password is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument("--reset-password", action="store_true", help="Set the password of an existing user.")

    def handle(self, *args, **opts):
        from traf3li.users.models import User

        if len(opts["password"]) < 8:
            raise CommandError("The password needs at least 8 characters.")
        # The platform's users live in the public schema, apart from every firm's: a firm's admin is
        # nobody here, and this superuser is nobody on a firm's host.
        with command_context("create_platform_admin"), schema_context(get_public_schema_name()):
            connection.set_schema_to_public()
            user = User.objects.filter(username=opts["username"]).first()
            if user is None:
                User.objects.create_superuser(
                    username=opts["username"], email=opts["email"], password=opts["password"], role=User.Role.ADMIN
                )
                self.stdout.write(f"Platform admin {opts['username']} created")
                return
            if not (user.is_superuser and user.is_staff and user.is_active):
                raise CommandError(f"{opts['username']} exists in the platform but is not an active superuser.")
            if opts["reset_password"]:
                user.set_password(opts["password"])
                user.save(update_fields=["password"])
                self.stdout.write(f"Platform admin {opts['username']}: password reset")
            else:
                self.stdout.write(f"Platform admin {opts['username']}: already exists, unchanged")

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django_tenants.utils import get_public_schema_name, schema_context

from billing.selectors import chain_verify
from traf3li.core.context import command_context
from traf3li.firms.models import Firm

ERROR_UNKNOWN_FIRM = "No firm with slug '{slug}'."
ERROR_BROKEN = "ZATCA invoice chain broken in {count} firm(s): {slugs}"


class Command(BaseCommand):
    help = "Verify each firm's ZATCA invoice hash chain (every firm by default); exit 1 if one is broken."

    def add_arguments(self, parser):
        parser.add_argument("--firm", help="Only this firm's slug.")

    def handle(self, *args, **opts):
        firms = Firm.objects.exclude(schema_name=get_public_schema_name()).order_by("slug")
        if opts["firm"]:
            firms = firms.filter(slug=opts["firm"])
            if not firms.exists():
                raise CommandError(ERROR_UNKNOWN_FIRM.format(slug=opts["firm"]))
        broken = []
        with command_context("zatca_verify"):
            for firm in firms:
                with schema_context(firm.schema_name):
                    connection.set_tenant(firm)
                    checked, breach = chain_verify()
                if breach is None:
                    self.stdout.write(f"{firm.slug}: ok, {checked} invoices")
                else:
                    broken.append(firm.slug)
                    self.stdout.write(
                        f"{firm.slug}: BROKEN at invoice {breach.invoice_number} (ICV {breach.icv}): {breach.reason}; "
                        f"{checked} invoices verified before it"
                    )
        connection.set_schema_to_public()
        if broken:
            raise CommandError(ERROR_BROKEN.format(count=len(broken), slugs=", ".join(broken)))

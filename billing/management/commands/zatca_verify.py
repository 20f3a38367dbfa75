from django.core.management.base import BaseCommand, CommandError

from billing.selectors import chain_verify
from traf3li.core.context import command_context
from traf3li.firms.selectors import firms_walk

ERROR_BROKEN = "ZATCA invoice chain broken in {count} firm(s): {slugs}"


class Command(BaseCommand):
    help = "Verify each firm's ZATCA invoice hash chain (every firm by default); exit 1 if one is broken."

    def add_arguments(self, parser):
        parser.add_argument("--firm", help="Only this firm's slug.")

    def handle(self, *args, **opts):
        broken = []
        with command_context("zatca_verify"):
            for firm in firms_walk(opts["firm"]):
                checked, breach = chain_verify()
                if breach is None:
                    self.stdout.write(f"{firm.slug}: ok, {checked} invoices")
                else:
                    broken.append(firm.slug)
                    self.stdout.write(
                        f"{firm.slug}: BROKEN at invoice {breach.invoice_number} (ICV {breach.icv}): {breach.reason}; "
                        f"{checked} invoices verified before it"
                    )
        if broken:
            raise CommandError(ERROR_BROKEN.format(count=len(broken), slugs=", ".join(broken)))

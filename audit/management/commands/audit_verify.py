from django.core.management.base import BaseCommand, CommandError

from audit.selectors import chain_verify
from traf3li.core.context import command_context
from traf3li.firms.selectors import firms_walk

ERROR_BROKEN = "Audit chain broken in {count} firm(s): {slugs}"


class Command(BaseCommand):
    help = (
        "Verify each firm's audit hash chain (every firm by default) from its first event; exit 1 at the "
        "first broken link."
    )

    def add_arguments(self, parser):
        parser.add_argument("--firm", help="Only this firm's slug.")
        parser.add_argument(
            "--incremental", action="store_true", help="Only what was appended since the last sound verify."
        )

    def handle(self, *args, **opts):
        broken = []
        with command_context("audit_verify"):
            for firm in firms_walk(opts["firm"]):
                result = chain_verify(incremental=opts["incremental"])
                if result.ok:
                    self.stdout.write(f"{firm.slug}: ok, {result.checked} events")
                else:
                    broken.append(firm.slug)
                    self.stdout.write(
                        f"{firm.slug}: BROKEN at event id {result.event_id} (seq {result.seq}): {result.reason}; "
                        f"{result.checked} events verified before it"
                    )
        if broken:
            raise CommandError(ERROR_BROKEN.format(count=len(broken), slugs=", ".join(broken)))

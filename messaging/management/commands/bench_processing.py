"""Channel events processed per second by one worker, batched, beside ``entry_import``'s rate.

    python manage.py bench_processing [--events 4000] [--statuses]

In a firm ``benchhooks`` (created once, with a Twilio account and clients whose phones the
traffic comes from) it stores ``--events`` inbound SMS deliveries, each from a matched client,
then times ``deliveries_process()`` in this process: each event becomes a Message and a timeline
entry on the client, exactly once. Then it times ``entry_import`` of as many comparable SMS
entries. Afterwards it checks that every delivery was processed and that each message and entry
exists once. With ``--statuses`` the deliveries are status callbacks of outbound messages instead
(sent, delivered, read of each): a third create messages and entries, the rest move them, and every
message and entry must end read. The ratio of the two rates is the figure; nothing here is a timed
test.
"""

import time
from urllib.parse import urlencode

from django.core.management.base import BaseCommand
from django.db import connection
from django_tenants.utils import schema_context

from messaging import processing, services
from messaging.bench import TWILIO_SID, TWILIO_TOKEN
from messaging.models import ChannelAccount, Message, WebhookDelivery
from timeline.models import Entry
from timeline.services import entry_import
from traf3li.crm import services as crm
from traf3li.crm.models import Client
from traf3li.firms.services import firm_create

FIRM = "benchhooks"
CLIENTS = 50


class Command(BaseCommand):
    help = "Channel events processed per second, batched, beside entry_import's rate."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=4000)
        parser.add_argument(
            "--statuses",
            action="store_true",
            help="status callbacks of outbound messages instead (sent, delivered, read of each, in order): "
            "the first creates the message and its entry, the next two move both",
        )

    def handle(self, *args, events, statuses, **options):
        firm = firm_create(slug=FIRM, name="Bench hooks").firm
        run = f"{int(time.time()):x}"
        with schema_context(firm.schema_name):
            connection.set_tenant(firm)
            account = ChannelAccount.objects.filter(provider="twilio", is_active=True).first()
            if account is None:
                credentials = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN}
                # the account bench_webhooks signs for, too
                account = services.channel_account_create(provider="twilio", name="twilio", credentials=credentials)
            processing.deliveries_process()  # what earlier runs left, untimed: only this run's events count
            phones = list(Client.objects.filter(name__startswith="Bench client").values_list("phone", flat=True))
            for n in range(len(phones), CLIENTS):
                client = crm.record_create(instance=Client(name=f"Bench client {n}", phone=f"+9665012{n:05d}"))
                phones.append(client.phone)
            for i in range(events):
                sid = f"SM{run}{i // 3 if statuses else i:012d}"
                if statuses:
                    body = urlencode(
                        [("MessageSid", sid), ("MessageStatus", ("sent", "delivered", "read")[i % 3]),
                         ("To", phones[(i // 3) % len(phones)]), ("From", "+966110000000"), ("AccountSid", "ACbench")]
                    ).encode()  # fmt: skip
                else:
                    body = urlencode(
                        [("MessageSid", sid), ("SmsSid", sid), ("SmsStatus", "received"), ("Body", f"Bench {i}"),
                         ("From", phones[i % len(phones)]), ("To", "+966110000000"), ("AccountSid", "ACbench"),
                         ("NumMedia", "0")]
                    ).encode()  # fmt: skip
                services.delivery_accept(
                    provider="twilio", endpoint="twilio_sms", account=account, headers={}, body=body
                )
            started = time.perf_counter()
            processed = processing.deliveries_process()
            processing_seconds = time.perf_counter() - started
            owed = WebhookDelivery.objects.filter(processed_at__isnull=True).count()
            messages = Message.objects.filter(external_id__startswith=f"SM{run}").count()
            expected = -(-events // 3) if statuses else events
            if statuses:  # every message ended read, on the message and on its entry
                unread = Message.objects.filter(external_id__startswith=f"SM{run}").exclude(status="read").count()
                unread += Entry.objects.filter(external_id__startswith=f"twilio:SM{run}").exclude(status="read").count()
            entries = Entry.objects.filter(external_id__startswith=f"twilio:SM{run}").count()
            client = Client.objects.filter(name__startswith="Bench client").first()
            items = (
                {"kind": "sms", "subject": client, "title": f"Imported SMS {i}", "source": "twilio",
                 "external_id": f"import:{run}:{i}", "payload": {"direction": "inbound", "body": f"Bench {i}"}}
                for i in range(events)
            )  # fmt: skip
            started = time.perf_counter()
            imported = entry_import(items=items)
            import_seconds = time.perf_counter() - started
        rate, import_rate = processed / processing_seconds, imported / import_seconds
        self.stdout.write(
            f"processed {processed:,} events in {processing_seconds:.1f} s: {rate:,.0f}/s (one worker, batches of "
            f"{processing.BATCH})\nentry_import of {imported:,} entries: {import_rate:,.0f}/s; processing = "
            f"{rate / import_rate:.1%} of it\nleft unprocessed {owed}; messages {messages:,}, entries {entries:,} "
            f"(each should be {expected:,})" + (f"; not read at the end: {unread}" if statuses else "")
        )

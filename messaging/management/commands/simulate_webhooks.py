"""Post a realistic, signed mix of provider webhooks to a running server, for a firm.

    python manage.py simulate_webhooks acme [--url http://127.0.0.1:8000] [--count 40] [--seed N]

It reads the firm's active channel accounts (``seed_demo`` creates demo ones) to sign, and sends
each delivery with the firm's host in ``Host``, as the provider would. Prints what each answered.
"""

import time
import urllib.error
import urllib.request
from collections import Counter
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_tenant_model, schema_context

from messaging.simulate import deliveries


class Command(BaseCommand):
    help = "Post a signed mix of Twilio, WhatsApp, SendGrid and Mailgun webhooks to a running server."

    def add_arguments(self, parser):
        parser.add_argument("firm", help="the firm's slug")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="where the server listens")
        parser.add_argument("--count", type=int, default=40)
        parser.add_argument("--seed", type=int, default=None, help="the same seed sends the same deliveries")

    def handle(self, *args, firm, url, count, seed, **options):
        if not get_tenant_model().objects.filter(schema_name=firm).exists():
            raise CommandError(f"No firm '{firm}'.")
        port = urlparse(url).port
        host = f"{firm}.{settings.BASE_DOMAIN}" + (f":{port}" if port else "")
        with schema_context(firm):
            planned = deliveries(
                base_url=f"http://{host}", count=count, seed=int(time.time()) if seed is None else seed
            )
        if not planned:
            raise CommandError(f"Firm '{firm}' has no active channel account or no client with a phone.")
        answers = Counter()
        for delivery in planned:
            request = urllib.request.Request(
                url.rstrip("/") + delivery.path,
                data=delivery.body,
                method="POST",
                headers={"Host": host, "Content-Type": delivery.content_type, **delivery.headers},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            answers[(delivery.provider, status)] += 1
        for (provider, status), n in sorted(answers.items()):
            self.stdout.write(f"{provider:9} {status}: {n}")

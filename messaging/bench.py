"""Signed webhook deliveries in the providers' real formats, for the benchmarks and the load harness.

Each delivery is distinct (its provider message id carries the run's id and its number) and signed
the way the provider signs it, with the secrets of the accounts ``bench_accounts_ensure`` creates.
"""

import time
from urllib.parse import parse_qsl, urlencode

from messaging import services, signatures
from messaging.models import ChannelAccount

TWILIO_TOKEN = "bench-twilio-token"
TWILIO_SID = "ACbench"
MAILGUN_KEY = "bench-mailgun-key"


def bench_accounts_ensure() -> None:
    """A Twilio and a Mailgun account with the bench's secrets in the current firm, unless it has them."""
    for provider, credentials in (
        ("twilio", {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN}),
        ("mailgun", {"signing_key": MAILGUN_KEY}),
    ):
        if not ChannelAccount.objects.filter(provider=provider, is_active=True).exists():
            services.channel_account_create(provider=provider, name=provider, credentials=credentials)


def signed_delivery(i: int, host: str, run: str, stamp: str | None = None) -> tuple[str, dict[str, str], bytes, str]:
    """(path, headers, body, provider message id) of delivery ``i``: odd ones a Twilio SMS status
    callback, even ones a Mailgun event. ``host`` is the Host header (with its port): Twilio signs the URL."""
    stamp = stamp or str(int(time.time()))
    if i % 2:
        path, sid = "/hooks/twilio/sms/", f"SM{run}{i:010d}"
        fields = [("MessageSid", sid), ("MessageStatus", "delivered"), ("AccountSid", TWILIO_SID),
                  ("From", "+966110000000"), ("To", "+966501234567"), ("ApiVersion", "2010-04-01")]  # fmt: skip
        body = urlencode(fields).encode()
        signature = signatures.twilio_signature(TWILIO_TOKEN, f"http://{host}{path}", parse_qsl(body.decode()))
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
        return path, headers, body, sid
    event_id, token = f"{run}-{i}", f"{run}{i:040d}"
    sig = signatures.mailgun_signature(MAILGUN_KEY, stamp, token)
    body = (
        f'{{"signature": {{"timestamp": "{stamp}", "token": "{token}", "signature": "{sig}"}}, '
        f'"event-data": {{"event": "delivered", "id": "{event_id}", "recipient": "client{i}@example.sa"}}}}'
    ).encode()
    return "/hooks/mailgun/", {"Content-Type": "application/json"}, body, event_id

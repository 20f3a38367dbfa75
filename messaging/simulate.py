"""A realistic, signed mix of webhook deliveries for a firm, as the providers send them.

``simulate_webhooks`` posts them to a running server so that a new user sees channel traffic
arrive; the tests feed the same deliveries through the webhook views. Counterparts are the firm's
own clients, contacts and leads (their phones and emails), so the traffic matches them. Formats
follow the providers' documented payloads: Twilio's form-encoded callbacks, Meta's
``whatsapp_business_account`` notifications, SendGrid's JSON event array, Mailgun's signed JSON.
"""

import base64
import json
import random
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from messaging import signatures
from messaging.demo import DEMO_SENDGRID_PRIVATE_KEY
from messaging.models import ChannelAccount

BODIES = [
    "Good morning, is the hearing still on Sunday?",
    "I sent the signed power of attorney by email.",
    "مرحباً، هل تم تحديد موعد الجلسة القادمة؟",
    "شكراً، استلمت المذكرة.",
    "Please call me back about the settlement offer.",
]


@dataclass(frozen=True)
class Delivery:
    provider: str
    path: str
    body: bytes
    headers: dict  # HTTP header name -> value
    content_type: str


def _sid(prefix: str, rng: random.Random) -> str:
    return prefix + "".join(rng.choice("0123456789abcdef") for _ in range(32))


def _twilio(account: ChannelAccount, base_url: str, path: str, fields: list[tuple[str, str]]) -> Delivery:
    body = urlencode(fields).encode()
    signature = signatures.twilio_signature(account.secrets["auth_token"], base_url + path, fields)
    return Delivery("twilio", path, body, {"X-Twilio-Signature": signature}, "application/x-www-form-urlencoded")


def twilio_sms(account, base_url, rng, phone: str, firm_number: str) -> list[Delivery]:
    """An inbound SMS, then an outbound reply's status callbacks (sent, delivered), possibly reordered."""
    inbound = _sid("SM", rng)
    common = [("AccountSid", account.account_sid), ("ApiVersion", "2010-04-01")]
    out = [
        _twilio(
            account,
            base_url,
            "/hooks/twilio/sms/",
            [("MessageSid", inbound), ("SmsSid", inbound), ("SmsStatus", "received"), ("Body", rng.choice(BODIES)),
             ("From", phone), ("To", firm_number), ("NumMedia", "0"), *common],
        )
    ]  # fmt: skip
    reply = _sid("SM", rng)
    statuses = ["sent", "delivered"]
    if rng.random() < 0.3:
        statuses.reverse()  # providers reorder callbacks
    for status in statuses:
        out.append(
            _twilio(
                account,
                base_url,
                "/hooks/twilio/sms/",
                [("MessageSid", reply), ("MessageStatus", status), ("SmsStatus", status), ("From", firm_number),
                 ("To", phone), *common],
            )
        )  # fmt: skip
    return out


def twilio_call(account, base_url, rng, phone: str, firm_number: str) -> list[Delivery]:
    call = _sid("CA", rng)
    fields = [("CallSid", call), ("AccountSid", account.account_sid), ("From", phone), ("To", firm_number),
              ("Direction", "inbound"), ("ApiVersion", "2010-04-01")]  # fmt: skip
    ringing = _twilio(account, base_url, "/hooks/twilio/voice/", [*fields, ("CallStatus", "ringing")])
    done = _twilio(
        account,
        base_url,
        "/hooks/twilio/voice/",
        [*fields, ("CallStatus", "completed"), ("CallDuration", str(rng.randint(30, 900)))],
    )
    return [ringing, done]


def whatsapp(account, rng, phone: str) -> list[Delivery]:
    wamid = "wamid." + base64.b64encode(uuid.UUID(int=rng.getrandbits(128)).bytes).decode()
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "966110000000", "phone_number_id": account.phone_number_id},
        "contacts": [{"profile": {"name": "Client"}, "wa_id": phone.lstrip("+")}],
        "messages": [
            {"from": phone.lstrip("+"), "id": wamid, "timestamp": str(int(time.time())), "type": "text",
             "text": {"body": rng.choice(BODIES)}}
        ],
    }  # fmt: skip
    change = {"value": value, "field": "messages"}
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}
    body = json.dumps(payload).encode()
    signature = signatures.meta_signature(account.secrets["app_secret"], body)
    return [Delivery("whatsapp", "/hooks/whatsapp/", body, {"X-Hub-Signature-256": signature}, "application/json")]


def sendgrid(account, rng, email: str) -> list[Delivery]:
    message = _sid("", rng)[:22]
    now = int(time.time())
    events = [
        {"email": email, "event": event, "timestamp": now + n, "sg_event_id": _sid("", rng),
         "sg_message_id": f"{message}.filter0001.{now}.0", "smtp-id": f"<{message}@sendgrid.net>",
         **({"useragent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", "ip": "93.184.216.34"}
            if event == "open" else {})}
        for n, event in enumerate(["processed", "delivered", "open"])
    ]  # fmt: skip
    body = (json.dumps(events).replace("}, {", "},\r\n{") + "\r\n").encode()
    stamp = str(now)
    key = serialization.load_pem_private_key(DEMO_SENDGRID_PRIVATE_KEY.encode(), password=None)
    signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    headers = {"X-Twilio-Email-Event-Webhook-Signature": signature, "X-Twilio-Email-Event-Webhook-Timestamp": stamp}
    return [Delivery("sendgrid", "/hooks/sendgrid/", body, headers, "application/json")]


def mailgun(account, rng, email: str) -> list[Delivery]:
    out = []
    message_id = f"{_sid('', rng)[:20]}@mg.example.com"
    for event in ("delivered", "opened"):
        stamp, token = str(int(time.time())), _sid("", rng) + _sid("", rng)[:18]
        signature = signatures.mailgun_signature(account.secrets["signing_key"], stamp, token)
        event_data = {"event": event, "id": _sid("", rng)[:22], "timestamp": float(stamp), "recipient": email,
                      "message": {"headers": {"message-id": message_id, "to": email}}}  # fmt: skip
        body = json.dumps(
            {"signature": {"timestamp": stamp, "token": token, "signature": signature}, "event-data": event_data}
        ).encode()
        out.append(Delivery("mailgun", "/hooks/mailgun/", body, {}, "application/json"))
    return out


def deliveries(*, base_url: str, count: int, seed: int = 0) -> list[Delivery]:
    """About ``count`` deliveries for the current firm's active accounts, to the firm's people."""
    from traf3li.crm.models import Client, Contact, Lead

    rng = random.Random(seed)
    accounts = {a.provider: a for a in ChannelAccount.objects.filter(is_active=True).order_by("pk")}
    people = [
        (phone, email)
        for model in (Client, Contact, Lead)
        for phone, email in model.objects.exclude(phone="").values_list("phone", "email")[:50]
    ]
    if not people:
        return []
    firm_number = "+966110000000"
    makers = []
    if "twilio" in accounts:
        makers += [lambda p, e: twilio_sms(accounts["twilio"], base_url, rng, p, firm_number)] * 3
        makers += [lambda p, e: twilio_call(accounts["twilio"], base_url, rng, p, firm_number)] * 2
    if "whatsapp" in accounts:
        makers += [lambda p, e: whatsapp(accounts["whatsapp"], rng, p)] * 3
    if "sendgrid" in accounts:
        makers += [lambda p, e: sendgrid(accounts["sendgrid"], rng, e)]
    if "mailgun" in accounts:
        makers += [lambda p, e: mailgun(accounts["mailgun"], rng, e)]
    out: list[Delivery] = []
    while makers and len(out) < count:
        phone, email = rng.choice(people)
        out.extend(rng.choice(makers)(phone, email or "client@example.sa"))
    return out[:count]

"""A person with data in every app, made through each app's services where a caller would use them
(rows a provider's webhook would bring are inserted as the webhook leaves them)."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing import services as billing
from messaging.models import Call, ChannelAccount, EmailEvent, EmailMessage, Message, WebhookDelivery
from timeline.activities import services as activities
from timeline.activities.models import Notification
from timeline.activities.tests.factories import activity_type
from timeline.events.tests.factories import EventFactory
from timeline.services import entry_record
from traf3li.crm import services as crm
from traf3li.crm.models import Case, Client, Contact

NAME = "Zubaida Qarmouti"
EMAIL = "zubaida.q@example.sa"
PHONE = "+966501112233"
# What must be gone after the erasure, wherever it was written: as typed, and the phone without
# its "+" (a form-encoded webhook body carries "%2B966…").
MARKERS = (NAME, EMAIL, PHONE, PHONE.removeprefix("+"))


@dataclass
class World:
    client: Client
    contact: Contact
    case: Case
    entries: list
    invoice: object
    event: object
    activity: object


def person_everywhere(*, actor, held: bool = False) -> World:
    """A contact (the person) of a client, quoted by records of every app."""
    client = crm.record_create(instance=Client(name="Dar Al Noor Trading", kind="company"), actor=actor)
    contact = crm.record_create(
        instance=Contact(name=NAME, email=EMAIL, phone=PHONE, client=client, job_title="Finance manager"), actor=actor
    )
    case = crm.record_create(
        instance=Case(title=f"Claim witnessed by {NAME}", client=client, legal_hold=held, description=f"Ask {EMAIL}"),
        actor=actor,
    )
    call = entry_record(
        kind="call", subject=contact, title=f"Call with {NAME}", description="She asked about the claim.",
        payload={"direction": "inbound", "duration_seconds": 60, "outcome": "connected", "from": PHONE,
                 "to": "+966110000000", "transcription": f"This is {NAME}, about my statement."},
        performed_by=actor, actor=actor,
    )  # fmt: skip
    note = entry_record(kind="note", subject=case, title="Witness list", related=[contact], actor=actor)
    activity = activities.activity_schedule(
        subject=contact, type=activity_type(), assignee=actor, summary=f"Call {NAME} back", note=f"Mobile {PHONE}",
        actor=actor,
    )  # fmt: skip
    Notification.objects.create(
        recipient=actor, activity=activity, title=f"Due today: Call {NAME} back", body=f"Reach her at {PHONE}"
    )
    event = EventFactory(
        title=f"Statement of {NAME}", case=case, organizer=actor, description=f"Bring the file {EMAIL} sent",
        attendees=[{"email": EMAIL, "name": NAME}], agenda=[{"title": f"{NAME}'s statement"}],
    )  # fmt: skip
    invoice = billing.invoice_create(
        client=client, case=case, notes=f"Copy to {EMAIL}", actor=actor,
        items=[{"type": "time", "description": f"Interview with {NAME}", "quantity": Decimal("1"),
                "unit_price": Decimal("500.00"), "task_code": "L210", "activity_code": "A103"}],
    )  # fmt: skip
    when = datetime.fromisoformat("2026-03-02T09:00:00+03:00")
    Message.objects.create(
        subject_type="contact", subject_id=contact.pk, provider="twilio", channel="sms", direction="inbound",
        external_id="SM-privacy-1", from_address=PHONE, to_address="+966110000000", body=f"{NAME} here, call me",
        status_history=[{"status": "received", "at": when.isoformat()}],
    )  # fmt: skip
    Call.objects.create(
        subject_type="contact", subject_id=contact.pk, provider="twilio", external_id="CA-privacy-1",
        direction="inbound", from_address=PHONE, to_address="+966110000000", status="completed",
        recording_url="https://api.twilio.com/recordings/RE1",
    )  # fmt: skip
    email = EmailMessage.objects.create(
        subject_type="contact", subject_id=contact.pk, provider="sendgrid", message_id="privacy-1", recipient=EMAIL
    )
    EmailEvent.objects.create(
        provider="sendgrid", idempotency_key="privacy-ev-1", message=email, event="click", occurred_at=when,
        url=f"https://example.sa/r?to={EMAIL}", ip="203.0.113.9", user_agent="Mozilla/5.0",
    )  # fmt: skip
    account = ChannelAccount.objects.create(provider="twilio", name="Privacy test", from_number="+966110000000")
    WebhookDelivery.objects.create(
        account=account, provider="twilio", endpoint="twilio_sms", headers={"X-Forwarded-For": "203.0.113.9"},
        dedup_key="privacy-dl-1",
        body=f"From=%2B{PHONE[1:]}&Body={NAME.replace(' ', '+')}+here".encode(), body_digest="0" * 64,
    )  # fmt: skip
    return World(client, contact, case, [call, note], invoice, event, activity)

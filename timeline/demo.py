"""A realistic demo timeline: calls, emails, SMS, WhatsApp, meetings, tasks, notes, documents,
status changes, invoices, payments and events over two years, in Arabic and English.

Loaded through ``entry_import`` (validated, linked, rolled up and audited like any entry) in a few
bulk statements. Idempotent: every demo entry carries an ``external_id`` starting ``demo-``.
"""

from datetime import datetime, time, timedelta

from django.utils import timezone

from timeline.choices import EntryKind
from timeline.models import Entry
from timeline.recorders import TITLE_STATUS
from timeline.rollups import firm_tz
from timeline.services import entry_import, entry_update
from traf3li.core.i18n import in_firm_language
from traf3li.crm.choices import CaseStatus
from traf3li.crm.models import Case, Client, Lead, Organization
from traf3li.users.models import User

MARKER = "demo-"
ENTRIES_PER_CLIENT = (15, 45)  # a few busy clients, most quieter
HISTORY_DAYS = 730
# A Saudi office's week, in the firm's timezone: calls and meetings at 02:00 read as fake data.
WEEKEND = {4, 5}  # Friday, Saturday (date.weekday())
OFFICE_HOURS = (8 * 60 + 30, 17 * 60 + 30)  # 08:30-17:30, in minutes of the day
MESSAGE_HOURS = (8 * 60, 22 * 60)  # clients write on WhatsApp and SMS into the evening
CASE_OPENED_AT = time(9, 30)

CALL_TITLES = [
    ("مكالمة مع العميل بخصوص موعد الجلسة", "ناقشنا موعد الجلسة القادمة والمستندات المطلوبة من المحامي"),
    ("اتصال لمتابعة سداد الأتعاب", "أكد العميل أنه سيحول الدفعة هذا الأسبوع"),
    ("Call about the settlement offer", "Client wants to hear the opposing counsel's revised figure first"),
    ("Follow-up call on witness statements", "Two witnesses confirmed; the third is travelling until next month"),
]
EMAIL_SUBJECTS = [
    "Draft statement of claim for your review",
    "مسودة العقد المعدلة",
    "Hearing moved to next Tuesday",
    "طلب مستندات إضافية للقضية",
    "Invoice and payment instructions",
]
SMS_BODIES = [
    "تذكير: موعد الجلسة غداً الساعة ٩ صباحاً في المحكمة العمالية",
    "Reminder: please bring your ID and the signed power of attorney.",
    "تم استلام المستندات، شكراً لكم",
]
WHATSAPP_BODIES = [
    "السلام عليكم، أرسلت لكم صورة العقد الموقّع",
    "هل يمكن تأجيل الاجتماع إلى يوم الأحد؟",
    "Thanks, we received the court's decision. I'll call you to explain the next steps.",
    "المحامي سيتواصل معكم بعد الجلسة",
]
MEETINGS = [
    ("اجتماع مراجعة القضية", "مراجعة الأدلة وخطة المرافعة", "الاتفاق على تقديم مذكرة رد خلال أسبوعين"),
    ("Strategy meeting before the hearing", "Evidence bundle, witness order", "File the reply memorandum by Thursday"),
    ("Mediation session", "Settlement range and conditions", "Parties to exchange revised offers"),
]
TASK_TYPES = ["Call back", "إرسال المستندات", "Prepare memorandum", "مراجعة العقد", "Court filing"]
NOTES = [
    "العميل يفضل التواصل عبر واتساب بعد الساعة ٤ عصراً",
    "Opposing counsel is open to mediation; keep the door open.",
    "تم التحقق من هوية العميل ووكالته الشرعية",
    "Client asked for a fee estimate for the appeal.",
]
DOCUMENTS = ["عقد_الإيجار_الموقع.pdf", "statement_of_claim_v3.docx", "power_of_attorney.pdf", "حكم_المحكمة.pdf"]
EVENTS = [
    ("hearing", "جلسة المحكمة العمالية", "المحكمة العمالية بالرياض"),
    ("court_date", "Commercial court session", "Commercial Court, Jeddah"),
    ("client_meeting", "Client meeting at the office", "Office — meeting room 2"),
    ("deadline", "آخر موعد لتقديم الاستئناف", ""),
]


def _call(rng, i):
    title, transcription = rng.choice(CALL_TITLES)
    outcome = rng.choice(["connected"] * 5 + ["no_answer", "voicemail", "busy"])
    payload = {
        "direction": rng.choice(["inbound", "outbound"]),
        "outcome": outcome,
        "duration_seconds": rng.randint(40, 1800) if outcome == "connected" else 0,
        "from": f"+9665{rng.randrange(10**8):08d}",
        "to": "+966112345678",
    }
    if outcome == "connected":
        payload["transcription"] = transcription
    return {"kind": "call", "title": title, "payload": payload, "source": "twilio", "status": outcome}


def _email(rng, i):
    subject = rng.choice(EMAIL_SUBJECTS)
    opened = rng.random() < 0.7
    return {
        "kind": "email",
        "title": subject,
        "source": "sendgrid",
        "status": "opened" if opened else "delivered",
        "payload": {
            "message_id": f"<demo.{i}@mail.traf3li.local>",
            "from": "lawyer@firm.example.sa",
            "to": ["client@example.sa"],
            "subject": subject,
            "opened": opened,
            "clicked": opened and rng.random() < 0.3,
        },
    }


def _message(kind, bodies, source):
    def build(rng, i):
        body = rng.choice(bodies)
        direction = rng.choice(["inbound", "outbound"])
        return {
            "kind": kind,
            "title": ("Inbound " if direction == "inbound" else "Outbound ")
            + kind.upper().replace("WHATSAPP", "WhatsApp"),
            "description": body,
            "source": source,
            "status": rng.choice(["delivered", "read"]),
            "payload": {"direction": direction, "body": body, "message_id": f"{kind}-{i}", "status": "delivered"},
        }

    return build


def _meeting(rng, i):
    title, agenda, next_steps = rng.choice(MEETINGS)
    return {
        "kind": "meeting",
        "title": title,
        "source": "manual",
        "payload": {
            "meeting_type": rng.choice(["in_person", "video", "phone", "court"]),
            "actual_duration_minutes": rng.choice([15, 30, 45, 60, 90, 120]),
            "agenda": agenda,
            "summary": agenda,
            "next_steps": next_steps,
        },
    }


def _task(rng, i):
    action = rng.choice(["scheduled", "completed", "rescheduled", "cancelled", "reassigned"])
    state = {"completed": "done", "cancelled": "cancelled"}.get(action, "scheduled")
    activity_type = rng.choice(TASK_TYPES)
    return {
        "kind": "task",
        "title": f"{activity_type} — {action}",
        "source": "system",
        "status": state,
        "payload": {
            "activity_id": 1000 + i,
            "activity_type": activity_type,
            "action": action,
            "state": state,
            "deadline": (timezone.localdate() - timedelta(days=rng.randint(0, 600))).isoformat(),
            "assignee": rng.choice(["Faisal Al-Qahtani", "Reem Al-Shehri"]),
            "feedback": "تم" if state == "done" else "",
        },
    }


def _note(rng, i):
    text = rng.choice(NOTES)
    return {"kind": "note", "title": text[:60], "description": text, "source": "manual"}


def _document(rng, i):
    name = rng.choice(DOCUMENTS)
    return {
        "kind": "document",
        "title": f"Document uploaded: {name}",
        "source": "manual",
        "payload": {"action": "uploaded", "file_name": name, "mime_type": "application/pdf", "size_bytes": 20000 + i},
    }


def _invoice(rng, i):
    amount = f"{rng.randint(5, 80) * 500}.00"
    return {
        "kind": "invoice",
        "title": f"Invoice INV-DEMO-{i:04d} sent",
        "source": "system",
        "status": "sent",
        "payload": {"invoice_number": f"INV-DEMO-{i:04d}", "action": "sent", "total_amount": amount, "currency": "SAR"},
    }


def _payment(rng, i):
    amount = f"{rng.randint(2, 40) * 500}.00"
    return {
        "kind": "payment",
        "title": f"Payment received: {amount} SAR",
        "source": "system",
        "payload": {
            "invoice_number": f"INV-DEMO-{i:04d}",
            "amount": amount,
            "currency": "SAR",
            "method": "bank_transfer",
        },
    }


def _event(rng, i):
    event_type, title, location = rng.choice(EVENTS)
    return {
        "kind": "event",
        "title": title,
        "source": "system",
        "payload": {
            "event_id": f"EVT-DEMO-{i:04d}",
            "event_type": event_type,
            "location": location,
            "action": "created",
        },
    }


def _status_title(before: str, after: str) -> str:
    with in_firm_language():  # as the status recorder writes it: the firm's language, the statuses' names
        return str(TITLE_STATUS).format(before=CaseStatus(before).label, after=CaseStatus(after).label)


def _status(rng, i):
    before, after = rng.choice([("open", "in_progress"), ("in_progress", "on_hold"), ("on_hold", "in_progress")])
    return {
        "kind": "status_change",
        "title": _status_title(before, after),
        "source": "system",
        "status": after,
        "payload": {"field": "status", "from": before, "to": after},
    }


# Weighted like a litigation practice's week: mostly calls, messages and emails.
BUILDERS = (
    [_call] * 6
    + [_email] * 5
    + [_message("sms", SMS_BODIES, "twilio")] * 2
    + [_message("whatsapp", WHATSAPP_BODIES, "whatsapp")] * 4
    + [_meeting] * 2
    + [_task] * 3
    + [_note] * 3
    + [_document] * 2
    + [_invoice, _payment, _event, _status]
)


def working_moment(rng, today, kind: str) -> datetime:
    """A firm-local working day in the last ``HISTORY_DAYS`` (never today: no entry in the future)."""
    tz = firm_tz()
    day = today - timedelta(days=rng.randint(1, HISTORY_DAYS))
    while day.weekday() in WEEKEND:
        day -= timedelta(days=1)
    start, end = MESSAGE_HOURS if kind in (EntryKind.SMS, EntryKind.WHATSAPP) else OFFICE_HOURS
    minute = rng.randrange(start, end)
    return datetime.combine(day, time(minute // 60, minute % 60, rng.randrange(60)), tzinfo=tz)


def cases_opened_on_their_date() -> int:
    """Move each case's "Case opened" entry to the case's open date (the crm seeder records it when it
    creates the case, i.e. at seeding time, while the demo's cases were opened up to three years ago)."""
    tz, moved = firm_tz(), 0
    cases = {case.pk: case for case in Case.objects.exclude(opened_on=None)}
    for entry in Entry.objects.live().filter(kind=EntryKind.CASE_CREATED, subject_type="case").order_by("pk"):
        case = cases.get(entry.subject_id)
        if case is None or timezone.localtime(entry.occurred_at, tz).date() == case.opened_on:
            continue  # idempotent: already on its date
        opened = datetime.combine(case.opened_on, CASE_OPENED_AT, tzinfo=tz)
        entry_update(entry=entry, data={"occurred_at": opened})
        moved += 1
    return moved


def seed(firm, rng) -> None:
    cases_opened_on_their_date()
    if Entry.objects.filter(external_id__startswith=MARKER).exists():
        return
    users = list(User.objects.all())
    today = timezone.localdate(timezone.now(), firm_tz())
    items = []

    def add(subject, related=()):
        item = rng.choice(BUILDERS)(rng, len(items))
        if item["kind"] == "status_change" and not isinstance(subject, Case | Lead):
            return
        item.update(
            subject=subject,
            related=list(related),
            occurred_at=working_moment(rng, today, item["kind"]),
            performed_by=rng.choice(users) if users and item["source"] != "system" else None,
            external_id=f"{MARKER}{len(items)}",
        )
        items.append(item)

    clients = list(Client.objects.prefetch_related("contacts", "cases"))
    for index, client in enumerate(clients):
        low, high = ENTRIES_PER_CLIENT
        count = high * 3 if index < 3 else rng.randint(low, high)
        contacts, cases = list(client.contacts.all()), list(client.cases.all())
        for _ in range(count):
            roll = rng.random()
            if cases and roll < 0.35:
                case = rng.choice(cases)
                add(case, related=[rng.choice(contacts)] if contacts and rng.random() < 0.3 else ())
            elif contacts and roll < 0.6:
                add(rng.choice(contacts))
            else:
                add(client, related=[rng.choice(cases)] if cases and rng.random() < 0.2 else ())
    for lead in Lead.objects.all():
        for _ in range(rng.randint(2, 8)):
            add(lead)
    for organization in Organization.objects.all():
        for _ in range(rng.randint(1, 4)):
            add(organization)
    entry_import(items=items)

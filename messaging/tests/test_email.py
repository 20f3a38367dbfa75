"""Email events from stored deliveries: grouped by email, each once, counted, on the recipient's timeline;
and the campaign reports of ``/api/v1/email/campaigns/``.

Deliveries are the providers' real payloads (read in place from the shared fixtures, as in
``test_handlers``), some with a campaign, a time or a machine open set, stored through
``services.delivery_accept`` and processed by ``processing.deliveries_process``.
"""

import copy
import itertools
import json
import zoneinfo
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from conftest import PROVIDER_FIXTURES, api_client_for
from messaging import email, processing, services
from messaging.models import EmailCampaign, EmailEvent, EmailMessage, ProcessedEvent, WebhookDelivery
from timeline.models import Entry
from traf3li.crm.models import Client
from traf3li.crm.services import record_create

FIXTURES = PROVIDER_FIXTURES
DOCS_X_ID = "14c5d75ce93.dfd.64b469"  # the X-Message-Id of every event in sendgrid_events_docs_per_event.json
RECIPIENT = "example@test.com"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"


@pytest.fixture(autouse=True)
def _email_handlers():
    """The app's email handlers, whatever another test registered in their place."""
    for endpoint, handler in email.HANDLERS.items():
        processing.delivery_handler_register(endpoint, handler)


def fixture_json(name: str):
    return json.loads((FIXTURES / name).read_text())


def docs_events(campaign: str | None = "Spring newsletter") -> list[dict]:
    """SendGrid's documented example of each event type, all of one email (one per anchor)."""
    events = [case["payload"][0] for case in fixture_json("sendgrid_events_docs_per_event.json")]
    if campaign:
        for event in events:
            event["marketing_campaign_name"] = campaign
    return events


def of_type(events: list[dict], name: str) -> dict:
    return copy.deepcopy(next(event for event in events if event["event"] == name))


def sendgrid_account(firm):
    with schema_context(firm.schema_name):
        return services.channel_account_create(provider="sendgrid", name="sg", credentials={"public_key": "k"})


def mailgun_account(firm):
    with schema_context(firm.schema_name):
        return services.channel_account_create(provider="mailgun", name="mg", credentials={"signing_key": "k"})


def deliver(account, body, *, dedup_key: str | None = None) -> WebhookDelivery:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    delivery, _ = services.delivery_accept(
        provider=account.provider, endpoint=account.provider, account=account, headers={}, body=raw, dedup_key=dedup_key
    )
    return delivery


def machine_open(events: list[dict], *, x_id: str = DOCS_X_ID, event_id: str = "machine-1") -> dict:
    """An Apple Mail Privacy Protection prefetch of the email's open pixel."""
    opened = of_type(events, "open")
    opened.update(sg_event_id=event_id, sg_machine_open=True, useragent=IPHONE)
    opened["sg_message_id"] = f"{x_id}.filter0001.16648.5515E0B88.0"
    return opened


def other_email(events: list[dict], x_id: str, *names: str) -> list[dict]:
    """Events of another email of the campaign (its own X-Message-Id and event ids)."""
    found = []
    for name in names:
        event = of_type(events, name)
        event.update(sg_event_id=f"{x_id}-{name}", sg_message_id=f"{x_id}.filter0001.1.2.0")
        found.append(event)
    return found


def at(*args) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def campaign_of(firm) -> EmailCampaign:
    with schema_context(firm.schema_name):
        return EmailCampaign.objects.get()


# --- recording -----------------------------------------------------------------------------------


def test_one_email_gathers_its_events_counts_once_and_stays_bounced(firm_a):
    account = sendgrid_account(firm_a)
    events = docs_events()
    with schema_context(firm_a.schema_name):
        deliver(account, events)
        deliver(account, [machine_open(events)])
        assert processing.deliveries_process() == 2
        message = EmailMessage.objects.get()
        assert (message.provider, message.message_id, message.recipient) == ("sendgrid", DOCS_X_ID, RECIPIENT)
        assert message.campaign.name == "Spring newsletter" and message.campaign.external_id == "Spring newsletter"
        # the documented bounce and blocked examples are the same event (same sg_event_id and type)
        assert EmailEvent.objects.count() == len(events)
        assert (message.opens, message.clicks) == (1, 1)  # the machine open is an event, not an open
        assert EmailEvent.objects.filter(machine_open=True, device="mobile").count() == 1
        assert message.status == "dropped"  # dropped came first; terminal, a later delivered doesn't undo it
        assert message.bounced and message.bounce_type == "dropped"
        assert message.sent_at and message.delivered_at and message.first_opened_at and message.first_clicked_at
        # unsubscribe, group unsubscribe, then group resubscribe: subscribed again; the spam report stays
        assert not message.unsubscribed and message.complained


@pytest.mark.parametrize("order", list(itertools.permutations(["processed", "delivered", "bounce"])), ids="-".join)
def test_events_in_any_order_end_at_the_same_status_and_times(firm_a, order):
    account = sendgrid_account(firm_a)
    events = docs_events()
    times = {"processed": at(2026, 3, 1, 9, 0), "delivered": at(2026, 3, 1, 9, 1), "bounce": at(2026, 3, 1, 9, 5)}
    with schema_context(firm_a.schema_name):
        for name in order:
            event = of_type(events, name)
            event["timestamp"] = times[name]
            deliver(account, [event])
            processing.deliveries_process()
        message = EmailMessage.objects.get()
        assert (message.status, message.bounced, message.bounce_type) == ("bounce", True, "bounce")
        assert message.sent_at == datetime.fromtimestamp(times["processed"], tz=UTC)
        assert message.delivered_at == datetime.fromtimestamp(times["delivered"], tz=UTC)


def test_machine_open_alone_is_never_an_open(firm_a):
    account = sendgrid_account(firm_a)
    events = docs_events()
    with schema_context(firm_a.schema_name):
        apple = machine_open(events, x_id="x-apple")
        deliver(account, [*other_email(events, "x-apple", "processed", "delivered"), apple])
        processing.deliveries_process()
        message = EmailMessage.objects.get(message_id="x-apple")
        assert message.opens == 0 and message.first_opened_at is None and message.status == "delivered"


def test_a_replayed_delivery_and_a_repeated_event_change_nothing(firm_a):
    account = sendgrid_account(firm_a)
    events = docs_events()
    with schema_context(firm_a.schema_name):
        deliver(account, events)
        processing.deliveries_process()
        before = EmailMessage.objects.values().get()
        counted = (EmailEvent.objects.count(), ProcessedEvent.objects.count())
        # SendGrid's retry, stored as a second delivery, and one event again in another batch
        deliver(account, events, dedup_key="retry-1")
        deliver(account, [of_type(events, "open"), of_type(events, "click")], dedup_key="retry-2")
        assert processing.deliveries_process() == 2
        after = EmailMessage.objects.values().get()
        assert (EmailEvent.objects.count(), ProcessedEvent.objects.count()) == counted
        assert {k: v for k, v in after.items() if k != "updated_at"} == {
            k: v for k, v in before.items() if k != "updated_at"
        }


def test_the_recipients_client_gets_one_entry_updated_as_it_is_opened_and_clicked(firm_a):
    account = sendgrid_account(firm_a)
    events = docs_events()
    with schema_context(firm_a.schema_name):
        sara = record_create(instance=Client(name="Sara", email="Example@Test.com"))
        deliver(account, [of_type(events, "processed"), of_type(events, "delivered")])
        processing.deliveries_process()
        entry = Entry.objects.get(source="sendgrid", external_id=f"sendgrid:{DOCS_X_ID}")
        assert (entry.kind, entry.subject_type, entry.subject_id) == ("email", "client", sara.pk)
        assert entry.status == "delivered" and entry.payload["opened"] is False
        assert entry.payload["to"] == [RECIPIENT] and entry.payload["message_id"] == DOCS_X_ID
        message = EmailMessage.objects.get()
        assert (message.subject_type, message.subject_id, message.entry_id) == ("client", sara.pk, entry.pk)

        deliver(account, [machine_open(events)])
        processing.deliveries_process()
        entry.refresh_from_db()
        assert entry.payload["opened"] is False  # a machine open is not the client reading it

        deliver(account, [of_type(events, "open"), of_type(events, "click")])
        processing.deliveries_process()
        entry.refresh_from_db()
        assert entry.payload["opened"] is True and entry.payload["opened_at"]
        assert entry.payload["clicked"] is True and entry.payload["clicked_links"] == ["http://www.sendgrid.com/"]
        assert Entry.objects.filter(kind="email").count() == 1


def test_an_unmatched_recipient_is_kept_without_an_entry(firm_a):
    account = sendgrid_account(firm_a)
    with schema_context(firm_a.schema_name):
        deliver(account, docs_events())
        processing.deliveries_process()
        message = EmailMessage.objects.get()
        assert message.entry_id is None and message.subject_id is None
        assert not Entry.objects.filter(kind="email").exists()


def test_a_bounce_from_sendgrid_and_from_mailgun(firm_a):
    sendgrid, mailgun = sendgrid_account(firm_a), mailgun_account(firm_a)
    anymail = {case["anymail_test"]: case["raw_events"] for case in fixture_json("sendgrid_events_anymail_tests.json")}
    cases = {case["anymail_test"]: case["payload"] for case in fixture_json("mailgun_events.json")}
    with schema_context(firm_a.schema_name):
        deliver(sendgrid, anymail["test_bounce_event"])
        for payload in cases.values():
            deliver(mailgun, payload)
        processing.deliveries_process()
        bounced = EmailMessage.objects.get(provider="sendgrid", message_id="Lli-03HcQ5-JLybO9fXsJg")
        assert (bounced.status, bounced.bounced, bounced.bounce_type) == ("bounce", True, "bounce")
        assert "does not exist" in bounced.events.get().reason
        failed = EmailMessage.objects.get(message_id="20180812214658.1.0DF563D0B3597700@example.org")
        assert (failed.status, failed.bounce_type, failed.recipient) == ("bounce", "permanent", "invalid@example.com")
        deferred = EmailMessage.objects.get(message_id="20180812214638.1.4A7D468E9BC18C5D@example.org")
        assert not deferred.bounced and deferred.status == ""  # a temporary failure is retried, not a bounce
        rejected = EmailMessage.objects.get(message_id="20180622220256.1.B31A451A2E5422BB@sandbox55887.mailgun.org")
        assert rejected.status == "dropped" and rejected.recipient == "recipient@example.org"
        opened = EmailMessage.objects.get(message_id="20180812213139.1.BC6694A917BB7E6A@example.org")
        assert opened.opens == 1 and opened.events.get().device == "desktop"
        # the trimmed clicked payload names no message: counted as processed, nothing recorded
        assert ProcessedEvent.objects.filter(provider="mailgun").count() == len(cases)
        assert EmailMessage.objects.filter(provider="mailgun").count() == len(cases) - 1
        assert not WebhookDelivery.objects.filter(processed_at__isnull=True).exists()


def test_a_body_sendgrid_never_sends_is_given_up(firm_a):
    account = sendgrid_account(firm_a)
    with schema_context(firm_a.schema_name):
        deliver(account, b'{"not": "an array"}')
        assert processing.deliveries_process() == 1
        assert "JSON array" in WebhookDelivery.objects.get().last_error
        assert not EmailMessage.objects.exists()


# --- the API -------------------------------------------------------------------------------------


def campaign_with_funnel(firm) -> EmailCampaign:
    """Two emails: the documented one (every event) and one only delivered and machine-opened."""
    account = sendgrid_account(firm)
    events = docs_events()
    with schema_context(firm.schema_name):
        deliver(account, [*events, machine_open(events)])
        deliver(account, [*other_email(events, "x-two", "processed", "delivered"), machine_open(events, x_id="x-two")])
        processing.deliveries_process()
    return campaign_of(firm)


def test_engagement_counts_each_email_once_per_stage(firm_a, api_a):
    campaign = campaign_with_funnel(firm_a)
    answer = api_a.get(f"/api/v1/email/campaigns/{campaign.pk}/engagement/")
    assert answer.status_code == 200, answer.content
    (bucket,) = answer.json()
    counts = {key: value for key, value in bucket.items() if key != "bucket"}
    assert counts == {
        "sent": 2,
        "delivered": 2,
        "opened": 1,  # the second email's only open was a machine's
        "clicked": 1,
        "bounced": 1,
        "unsubscribed": 1,
        "complained": 1,
    }
    local = datetime.fromtimestamp(1513299569, tz=zoneinfo.ZoneInfo(firm_a.timezone))
    assert datetime.fromisoformat(bucket["bucket"]) == local.replace(hour=0, minute=0, second=0)


def test_devices_count_opens_without_machine_opens_and_clicks(firm_a, api_a):
    campaign = campaign_with_funnel(firm_a)
    answer = api_a.get(f"/api/v1/email/campaigns/{campaign.pk}/devices/")
    assert answer.status_code == 200, answer.content
    assert answer.json() == [{"device": "desktop", "opens": 1, "clicks": 1}]  # the iPhone opens were machines


def test_buckets_are_the_firms_local_days_and_hours(firm_a, api_a):
    tz = zoneinfo.ZoneInfo(firm_a.timezone)
    account = sendgrid_account(firm_a)
    events = docs_events()
    late = other_email(events, "x-late", "processed")[0]
    late["timestamp"] = at(2026, 3, 1, 23, 30)  # near midnight UTC: the next day east of UTC
    early = other_email(events, "x-early", "processed")[0]
    early["timestamp"] = at(2026, 3, 1, 12, 0)
    with schema_context(firm_a.schema_name):
        deliver(account, [late, early])
        processing.deliveries_process()
    campaign = campaign_of(firm_a)

    def buckets(interval):
        answer = api_a.get(f"/api/v1/email/campaigns/{campaign.pk}/engagement/", {"interval": interval})
        assert answer.status_code == 200, answer.content
        return [(datetime.fromisoformat(row["bucket"]), row["sent"]) for row in answer.json()]

    def local(hour, *, minute=0):
        return datetime(2026, 3, 1, hour, minute, tzinfo=UTC).astimezone(tz)

    days = sorted({local(12).date(), local(23, minute=30).date()})
    assert buckets("day") == [(datetime.combine(day, time.min, tzinfo=tz), 1) for day in days]
    assert buckets("hour") == [(local(12).replace(minute=0), 1), (local(23, minute=30).replace(minute=0), 1)]
    # 1 March 2026 is a Sunday: east of UTC, the late one is in the next (Monday's) week
    mondays = [local(12).date(), local(23, minute=30).date()]
    mondays = [day - timedelta(days=day.weekday()) for day in mondays]
    weeks = [(datetime.combine(day, time.min, tzinfo=tz), mondays.count(day)) for day in sorted(set(mondays))]
    assert buckets("week") == weeks
    if tz.utcoffset(datetime(2026, 3, 1)) >= timedelta(minutes=31):  # Asia/Riyadh, the default: UTC+3
        assert len(days) == 2 and len(weeks) == 2


def test_an_interval_other_than_hour_day_week_is_400(firm_a, api_a):
    campaign = campaign_with_funnel(firm_a)
    answer = api_a.get(f"/api/v1/email/campaigns/{campaign.pk}/engagement/", {"interval": "month"})
    assert answer.status_code == 400 and "interval" in answer.json()


def test_campaign_list_is_one_query_a_page_and_staff_may_read(firm_a, api_a_staff):
    account = sendgrid_account(firm_a)
    events = docs_events(campaign=None)

    def listed():
        with CaptureQueriesContext(connection) as queries:
            answer = api_a_staff.get("/api/v1/email/campaigns/", {"page_size": 2})
        assert answer.status_code == 200, answer.content
        return answer.json(), [q["sql"] for q in queries if "messaging_emailcampaign" in q["sql"]]

    with schema_context(firm_a.schema_name):
        for n in range(5):
            event = other_email(events, f"x-{n}", "processed")[0]
            event["marketing_campaign_id"] = f"campaign-{n}"
            deliver(account, [event])
        processing.deliveries_process()
    page, queries = listed()
    assert len(queries) == 1
    assert [row["name"] for row in page["results"]] == ["campaign-4", "campaign-3"] and page["next"]
    with CaptureQueriesContext(connection) as queries:
        second = api_a_staff.get(page["next"])
    assert [row["name"] for row in second.json()["results"]] == ["campaign-2", "campaign-1"]
    assert len([q for q in queries if "messaging_emailcampaign" in q["sql"]]) == 1
    campaign = campaign_of_name(firm_a, "campaign-0")
    assert api_a_staff.get(f"/api/v1/email/campaigns/{campaign.pk}/").json()["external_id"] == "campaign-0"
    assert api_a_staff.get(f"/api/v1/email/campaigns/{campaign.pk}/engagement/").status_code == 200
    assert api_a_staff.get(f"/api/v1/email/campaigns/{campaign.pk}/devices/").json() == []


def campaign_of_name(firm, name: str) -> EmailCampaign:
    with schema_context(firm.schema_name):
        return EmailCampaign.objects.get(name=name)


def test_another_firms_token_is_401_and_its_campaign_404(firm_a, firm_b, admin_b, api_b):
    campaign = campaign_with_funnel(firm_a)
    foreign = api_client_for(firm_b, admin_b)
    foreign.defaults["HTTP_HOST"] = f"{firm_a.schema_name}.localhost"  # firm B's token on firm A's host
    assert foreign.get("/api/v1/email/campaigns/").status_code == 401
    assert foreign.get(f"/api/v1/email/campaigns/{campaign.pk}/engagement/").status_code == 401
    for path in ("", "engagement/", "devices/"):  # on its own host, firm A's campaign is not firm B's
        assert api_b.get(f"/api/v1/email/campaigns/{campaign.pk}/{path}").status_code == 404
    assert api_b.get("/api/v1/email/campaigns/").json()["results"] == []


def test_anonymous_is_401(firm_a):
    assert api_client_for(firm_a).get("/api/v1/email/campaigns/").status_code == 401

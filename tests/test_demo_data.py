"""The demo reads like a real office: working hours in the firm's timezone, cases opened when they were,
company clients named after their own organization."""

import random

import pytest
from django.utils import timezone

from timeline import demo as timeline_demo
from timeline.models import Entry
from timeline.rollups import firm_tz
from traf3li.crm import demo as crm_demo
from traf3li.crm.models import Case, Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(in_firm_a, admin_a, lawyer_a, monkeypatch):
    monkeypatch.setattr(crm_demo, "DEMO_CLIENTS", 50)  # enough to reuse organizations (one company in 5)
    monkeypatch.setattr(timeline_demo, "ENTRIES_PER_CLIENT", (3, 6))
    crm_demo.seed(in_firm_a, random.Random("acme"))
    timeline_demo.seed(in_firm_a, random.Random("acme"))
    return in_firm_a


def test_calls_and_meetings_happen_on_working_days_in_office_hours(seeded):
    tz = firm_tz()
    entries = Entry.objects.filter(external_id__startswith=timeline_demo.MARKER, kind__in=["call", "meeting"])
    assert entries.count() > 20
    for occurred_at in entries.values_list("occurred_at", flat=True):
        local = timezone.localtime(occurred_at, tz)
        minutes = local.hour * 60 + local.minute
        assert local.weekday() not in timeline_demo.WEEKEND, local
        assert timeline_demo.OFFICE_HOURS[0] <= minutes < timeline_demo.OFFICE_HOURS[1], local
        assert occurred_at < timezone.now()


def test_case_opened_entries_sit_on_the_cases_open_date_and_a_second_run_moves_nothing(seeded):
    tz = firm_tz()
    cases = {case.pk: case.opened_on for case in Case.objects.all()}
    opened = Entry.objects.filter(kind="case_created", subject_type="case")
    assert opened.count() == len(cases) > 0
    for case_id, occurred_at in opened.values_list("subject_id", "occurred_at"):
        assert timezone.localtime(occurred_at, tz).date() == cases[case_id]
    assert timeline_demo.cases_opened_on_their_date() == 0


def test_company_clients_are_named_after_their_organization(seeded):
    companies = Client.objects.filter(kind="company").select_related("organization")
    assert companies.count() >= 10
    for client in companies:
        assert client.organization is not None and client.name.startswith(client.organization.name), client.name
    assert not Client.objects.filter(kind="individual", organization__isnull=False).exists()

"""The 360° panel as a lawyer reads it: labels, glyphs, names, search, kind and date filters, keyset pages."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client as BrowserClient
from django_tenants.utils import schema_context

from conftest import make_user
from timeline.tests.factories import bulk_entries, client_family, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def lawyer_browser(firm_a):
    lawyer = make_user(firm_a, "panel_lawyer", role="lawyer", first_name="Faisal", last_name="Al-Qahtani")
    browser = BrowserClient(HTTP_HOST=f"{firm_a.schema_name}.localhost")
    with schema_context(firm_a.schema_name):
        browser.force_login(lawyer)
    return browser, lawyer


def panel(browser, client, **params):
    response = browser.get(f"/admin/crm/client/{client.id}/change/", params)
    assert response.status_code == 200
    page = response.content.decode()
    return page[page.index('id="timeline-360"') :]


def titles(html):
    return re.findall(r"ACT-[^<]*? — ([^<]+)</a>", html)


def test_panel_shows_kind_labels_glyphs_and_peoples_names(firm_a, lawyer_browser):
    browser, lawyer = lawyer_browser
    with schema_context(firm_a.schema_name):
        client, contact, _ = client_family("Panel client")
        record(client, kind="status_change", title="Moved to active", performed_by=lawyer)
        record(contact, kind="call", title="Called", payload={"duration_seconds": 30}, performed_by=lawyer)
    # when
    html = panel(browser, client)
    # then the kind reads as its label, each with its channel's glyph, and the performer by name
    assert "Status change" in html and ">status_change<" not in html
    assert html.count('class="timeline-glyph"') >= 2
    assert "Faisal Al-Qahtani" in html and ">panel_lawyer<" not in html


def test_panel_is_outside_the_record_form(firm_a, lawyer_browser):
    browser, _ = lawyer_browser
    with schema_context(firm_a.schema_name):
        client, _, _ = client_family("Form client")
    page = browser.get(f"/admin/crm/client/{client.id}/change/").content.decode()
    # The search form must not nest in the change form: submitting it would post the record.
    assert page.index("</form>") < page.index('id="timeline-search"')


def test_panel_searches_and_filters_by_kind_and_date(firm_a, lawyer_browser):
    browser, _ = lawyer_browser
    with schema_context(firm_a.schema_name):
        client, _, case = client_family("Filter client")
        record(client, kind="call", title="Hearing call", occurred_at=datetime(2026, 3, 1, 9, tzinfo=UTC))
        record(case, kind="email", title="Hearing email", occurred_at=datetime(2026, 3, 5, 9, tzinfo=UTC))
        record(case, kind="note", title="Unrelated note", occurred_at=datetime(2026, 3, 9, 9, tzinfo=UTC))
    assert set(titles(panel(browser, client, timeline_q="hearing"))) == {"Hearing call", "Hearing email"}
    assert titles(panel(browser, client, timeline_q="hearing", timeline_kind="email")) == ["Hearing email"]
    dated = panel(browser, client, timeline_since="2026-03-02", timeline_until="2026-03-05")
    assert titles(dated) == ["Hearing email"]
    # a malformed date is named, and the other filters still apply
    bad = panel(browser, client, timeline_since="yesterday", timeline_kind="note")
    assert 'class="errorlist"' in bad
    assert "Unrelated note" in titles(bad) and not any(title.startswith("Hearing") for title in titles(bad))


def test_panel_pages_by_keyset_beyond_the_latest_50(firm_a, lawyer_browser):
    browser, _ = lawyer_browser
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with schema_context(firm_a.schema_name):
        client, _, _ = client_family("Paged client")
        bulk_entries(client, [start + timedelta(hours=i) for i in range(55)], title="Bulk")
    first = panel(browser, client)
    # 57 in all: the client's own "Contact added" and "Case opened", newest, then the 55
    assert len(titles(first)) == 50 and titles(first)[2:] == [f"Bulk {i}" for i in range(54, 6, -1)]
    older = re.search(r'href="\?([^"]+)#timeline-360" id="timeline-older"', first).group(1).replace("&amp;", "&")
    second = browser.get(f"/admin/crm/client/{client.id}/change/?{older}").content.decode()
    assert titles(second[second.index('id="timeline-360"') :]) == [f"Bulk {i}" for i in range(6, -1, -1)]
    assert 'id="timeline-older"' not in second and 'id="timeline-newest"' in second
    # a tampered cursor falls back to the latest page with a note, never a 500
    broken = panel(browser, client, timeline_cursor="not-a-cursor")
    assert titles(broken) == titles(first) and 'class="errorlist"' in broken

"""The client's admin page in a real Chromium, against gunicorn and committed data (scratch firm)."""

import uuid

import pytest

from conftest import make_user
from timeline.tests.factories import client_family, record

pytestmark = pytest.mark.browser


def test_client_admin_page_shows_the_360_timeline_in_a_browser(scratch_firm, firm_url, open_page):
    # given committed records in the scratch firm
    tag = uuid.uuid4().hex[:6]
    admin = make_user(scratch_firm, f"browser_{tag}", role="admin")
    client, contact, case = client_family(f"Browser {tag}")
    call = record(contact, kind="call", title=f"Call {tag}", payload={"duration_seconds": 60})
    record(case, kind="email", title=f"Email {tag}")
    page = open_page()
    # when the firm admin signs in and opens the client
    page.login(firm_url, admin.username, next_path=f"/admin/crm/client/{client.id}/change/")
    page.wait_for_selector("#timeline-360")
    # then the panel lists the contact's call and the case's email, newest first
    rows = page.locator("#timeline-360 tr.timeline-entry")
    assert rows.nth(0).get_attribute("data-kind") == "email"
    assert page.locator("#timeline-360").inner_text().count(tag) >= 2
    # when filtered to calls
    page.click("#timeline-360 [data-kind-filter=Call]")
    page.wait_for_selector("#timeline-360 strong[data-kind-filter=Call]")
    # then only calls remain
    kinds = {rows.nth(i).get_attribute("data-kind") for i in range(rows.count())}
    assert kinds == {"call"}
    assert f"Email {tag}" not in page.locator("#timeline-360").inner_text()
    # and each entry links to its own admin page
    page.click(f"#timeline-360 a:has-text('Call {tag}')")
    page.wait_for_url(f"**/admin/timeline/entry/{call.id}/change/")
    assert call.activity_id in page.content()

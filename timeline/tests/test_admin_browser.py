"""The client's admin page in a real Chromium, against a real server and committed data (scratch firm)."""

import threading
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler, get_internal_wsgi_application
from django.db import connection, connections

from conftest import make_user
from timeline.tests.factories import client_family, record

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORD = "pass-word-123"  # conftest.make_user's

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium"),
]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class ConnectionClosingServer(ThreadedWSGIServer):
    """Each request runs in its own thread with its own connection; close it when the request ends."""

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            connections.close_all()


@pytest.fixture
def live_firm_server(scratch_firm):
    """A real HTTP server on a free port, serving the app against the test database."""
    assert connection.settings_dict["NAME"] == settings.DATABASES["default"]["TEST"]["NAME"]
    server = ConnectionClosingServer(("127.0.0.1", 0), QuietHandler)
    server.set_app(get_internal_wsgi_application())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{scratch_firm.schema_name}.localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_this_module_runs_on_the_test_database(db):
    """``scratch_firm`` alone does not create the test database; this test makes sure it exists."""
    assert connection.settings_dict["NAME"] == settings.DATABASES["default"]["TEST"]["NAME"]


def test_client_admin_page_shows_the_360_timeline_in_a_browser(scratch_firm, live_firm_server):
    from playwright.sync_api import sync_playwright

    # given committed records in the scratch firm
    tag = uuid.uuid4().hex[:6]
    admin = make_user(scratch_firm, f"browser_{tag}", role="admin")
    client, contact, case = client_family(f"Browser {tag}")
    call = record(contact, kind="call", title=f"Call {tag}", payload={"duration_seconds": 60})
    record(case, kind="email", title=f"Email {tag}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            # when the firm admin signs in and opens the client
            page.goto(f"{live_firm_server}/admin/login/?next=/admin/crm/client/{client.id}/change/")
            page.fill("#id_username", admin.username)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
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
        finally:
            browser.close()

"""Each role's day in the firm admin, in English and Arabic, in a real Chromium against gunicorn (DEBUG off).

Login through the form for every role, the index's SLA counters, the client's 360° panel (search
and keyset pages), completing an activity with the admin action, and the audit list (admins only).
The records are committed in the scratch firm once per module, under names unique to the run.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from conftest import _firm, make_user
from tests.browser.conftest import LANGUAGES
from tests.browser.test_static_and_docs import _assert_styled
from timeline.activities.admin import ADMIN_FEEDBACK
from timeline.activities.choices import ActivityState
from timeline.activities.deadlines import firm_today
from timeline.activities.models import Activity
from timeline.activities.selectors import activity_stats
from timeline.activities.tests.factories import schedule
from timeline.selectors import entry_subject_view
from timeline.services import entry_import
from timeline.tests.factories import client_family
from traf3li.core.subjects import subject_of

pytestmark = pytest.mark.browser

ROLES = ("admin", "lawyer", "staff")
AUDIT_LIST = "/admin/audit/auditevent/"
OLDER_ENTRIES = 55  # more than the panel's page of 50
SEARCHED = {"en": ("adjourned", "Hearing adjourned by the court"), "ar": ("الجلسة", "تأجيل الجلسة إلى الشهر القادم")}


@dataclass
class World:
    tag: str
    users: dict
    client: object
    counted: dict  # the lawyer's own counters: overdue, today, planned


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> World:
    """One user per role, a client with 55+ entries and the lawyer's activities, committed in the scratch firm."""
    tag = uuid.uuid4().hex[:6]
    with django_db_blocker.unblock():
        firm = _firm("gamma")
        users = {
            role: make_user(firm, f"{role}_{tag}", role=role, first_name=role.capitalize(), last_name=tag)
            for role in ROLES
        }
        with schema_context(firm.schema_name):
            client, contact, case = client_family(f"Roles {tag}")
            now = timezone.now()
            subjects = (client, contact, case)
            items = [
                {
                    "kind": "note",
                    "subject": subjects[i % 3],
                    "title": f"Routine note {tag} {i}",
                    "occurred_at": now - timedelta(hours=i + 1),
                }
                for i in range(OLDER_ENTRIES)
            ]
            items += [
                {"kind": "note", "subject": contact, "title": title, "occurred_at": now - timedelta(days=10 + n)}
                for n, (_, title) in enumerate(SEARCHED.values())
            ]
            entry_import(items=items)
            today = firm_today()
            lawyer = users["lawyer"]
            for days, summary in ((-3, "Overdue"), (0, "Today"), (5, "Planned"), (9, "Planned")):
                schedule(
                    subject=case, assignee=lawyer, deadline=today + timedelta(days=days), summary=f"{summary} {tag}"
                )
        connection.set_schema_to_public()
    return World(tag=tag, users=users, client=client, counted={"overdue": 1, "today": 1, "planned": 2})


def _lang(page) -> dict:
    return page.evaluate("() => ({lang: document.documentElement.lang, dir: document.documentElement.dir})")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_each_role_logs_in_with_the_form_to_a_styled_index(world, firm_url, open_page, language, role):
    # when each role signs in through the login form, with their password
    page = open_page(language)
    page.login(firm_url, world.users[role].username)
    # then they land on the firm admin's index, styled, in their language and direction
    assert page.url == f"{firm_url}/admin/", page.url
    styled = _assert_styled(page)
    assert _lang(page) == {"lang": language, "dir": "rtl" if language == "ar" else "ltr"}
    assert styled["direction"] == ("rtl" if language == "ar" else "ltr")
    # with the apps their role may see: clients for all, the audit log for admins only
    assert page.locator("#content-main a[href='/admin/crm/client/']").count() >= 1
    assert (page.locator(f"#content-main a[href='{AUDIT_LIST}']").count() > 0) == (role == "admin")
    page.screenshot(f"index-{role}")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_index_counts_my_overdue_today_and_planned_activities(world, scratch_firm, firm_url, open_page, language):
    page = open_page(language)
    page.login(firm_url, world.users["lawyer"].username)
    counters = page.locator("#activity-counters tbody tr")

    def row(n):
        return [int(text) for text in counters.nth(n).locator("td").all_inner_texts()[:3]]

    # the lawyer's own row counts the overdue, today's and planned activities created for them
    assert row(1) == list(world.counted.values())
    # and the firm's row is the firm's (the scratch firm has other tests' activities too)
    stats = activity_stats()
    assert row(0) == [stats["overdue_count"], stats["today_count"], stats["planned_count"]]
    # the overdue count links to the list of those activities
    counters.nth(1).locator("td").nth(0).locator("a").click()
    page.wait_for_load_state("networkidle")
    assert "due=overdue" in page.url
    assert page.locator("#result_list").inner_text().count(f"Overdue {world.tag}") == 1
    page.assert_clean("following the overdue counter")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_client_360_page_searches_and_pages_by_keyset(world, scratch_firm, firm_url, open_page, language):
    entries = entry_subject_view(subject_of(world.client)).count()  # the client's 360° view, all of it
    assert 50 < entries <= 100
    page = open_page(language)
    change = f"/admin/crm/client/{world.client.id}/change/"
    page.login(firm_url, world.users["lawyer"].username, next_path=change)
    rows = page.locator("#timeline-360 tr.timeline-entry")
    # the latest 50 entries, and a link to the older ones
    assert rows.count() == 50
    first_page = set(rows.locator("a[href*='/admin/timeline/entry/']").evaluate_all("as => as.map(a => a.href)"))
    oldest_shown = rows.nth(49).locator("time").get_attribute("datetime")
    # when the next page is followed (keyset: "Older 50 →")
    page.click("#timeline-older")
    page.wait_for_load_state("networkidle")
    page.assert_clean("opening the older entries")
    # then the rest are shown, older than the first page's last, none twice
    assert "timeline_cursor=" in page.url
    assert rows.count() == entries - 50
    second_page = set(rows.locator("a[href*='/admin/timeline/entry/']").evaluate_all("as => as.map(a => a.href)"))
    assert not first_page & second_page
    assert rows.nth(0).locator("time").get_attribute("datetime") <= oldest_shown
    assert page.locator("#timeline-older").count() == 0
    assert page.locator("#timeline-newest").count() == 1
    # when searching the panel, in the page's language
    word, title = SEARCHED[language]
    page.fill("#timeline-q", word)
    page.press("#timeline-q", "Enter")
    page.wait_for_load_state("networkidle")
    page.assert_clean("searching the panel")
    # then only the matching entry is listed, from the first page on
    assert "timeline_q=" in page.url
    assert "timeline_cursor=" not in page.url
    assert rows.count() == 1
    assert title in rows.nth(0).inner_text()
    page.screenshot("search")


@pytest.mark.parametrize("language", LANGUAGES)
def test_completing_an_activity_from_the_admin(world, scratch_firm, firm_url, open_page, language):
    # given a scheduled activity of the staff member's
    summary = f"File the appeal {world.tag} {language}"
    activity = schedule(
        subject=world.client, assignee=world.users["staff"], deadline=firm_today() - timedelta(days=1), summary=summary
    )
    page = open_page(language)
    page.login(firm_url, world.users["staff"].username, next_path=f"/admin/activities/activity/?q={quote(summary)}")
    # when they tick it and run "Mark the selected activities as done"
    page.check(f"#result_list input[name=_selected_action][value='{activity.pk}']")
    page.select_option("select[name=action]", "complete_selected")
    page.click("#changelist-form button[name=index]")
    page.wait_for_load_state("networkidle")
    page.assert_clean("completing the activity")
    # then the admin says so, and the activity is done with the admin's feedback
    assert page.locator(".messagelist .success").count() == 1
    activity.refresh_from_db()
    assert (activity.state, activity.feedback, activity.done_at is not None) == (
        ActivityState.DONE,
        ADMIN_FEEDBACK,
        True,
    )
    assert Activity.objects.get(pk=activity.pk).state == ActivityState.DONE


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_audit_list_renders_for_an_admin(world, firm_url, open_page, language):
    page = open_page(language)
    page.login(firm_url, world.users["admin"].username, next_path=AUDIT_LIST)
    assert page.url == f"{firm_url}{AUDIT_LIST}"
    _assert_styled(page)
    assert page.locator("#result_list tbody tr").count() > 0
    # the events of this module's records are there (the client's creation, by name)
    page.fill("#searchbar", f"Roles {world.tag}")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state("networkidle")
    assert page.locator("#result_list tbody tr").count() >= 1


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_audit_list_is_refused_to_staff(world, firm_url, open_page, language):
    page = open_page(language, allow=[(403, "/admin/audit/")])
    page.login(firm_url, world.users["staff"].username)
    response = page.goto(f"{firm_url}{AUDIT_LIST}")
    assert response.status == 403

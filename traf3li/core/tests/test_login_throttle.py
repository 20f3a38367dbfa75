"""Password guessing is slowed at both doors: per firm and username, and per client, 429 with Retry-After."""

import pytest
from django.core.cache import cache
from django.test import Client as BrowserClient
from rest_framework.test import APIClient

from conftest import make_user

pytestmark = pytest.mark.django_db
PASSWORD = "pass-word-123"  # make_user's


@pytest.fixture(autouse=True)
def _fresh_counters(settings):
    settings.LOGIN_THROTTLE = {"window": 900, "per_username": 3, "per_ip": 6}
    cache.clear()  # this test process's own Redis database
    yield
    cache.clear()


def token(firm, username, password, ip="10.0.0.1"):
    api = APIClient(HTTP_HOST=f"{firm.schema_name}.localhost", REMOTE_ADDR=ip)
    return api.post("/api/v1/auth/token/", {"username": username, "password": password}, format="json")


def test_after_too_many_failures_even_the_right_password_waits(firm_a):
    make_user(firm_a, "guessed", role="staff")
    assert [token(firm_a, "guessed", f"wrong-{n}").status_code for n in range(3)] == [400, 400, 400]
    blocked = token(firm_a, "guessed", PASSWORD)
    assert blocked.status_code == 429 and 0 < int(blocked["Retry-After"]) <= 900
    assert "Too many failed logins" in blocked.json()["detail"]
    make_user(firm_a, "other", role="staff")
    assert token(firm_a, "other", PASSWORD, ip="10.0.0.2").status_code == 200  # someone else isn't


def test_a_success_clears_the_count_and_the_block_is_per_firm(firm_a, firm_b):
    make_user(firm_a, "sam", role="staff")
    make_user(firm_b, "sam", role="staff")
    for _ in range(2):
        assert token(firm_a, "sam", "wrong").status_code == 400
    assert token(firm_a, "sam", PASSWORD).status_code == 200
    for _ in range(2):  # counted afresh: two more failures don't block
        assert token(firm_a, "sam", "wrong").status_code == 400
    assert token(firm_a, "sam", PASSWORD).status_code == 200
    for _ in range(3):
        token(firm_a, "sam", "wrong", ip="10.0.0.9")
    assert token(firm_a, "sam", PASSWORD, ip="10.0.0.9").status_code == 429
    assert token(firm_b, "sam", PASSWORD, ip="10.0.0.8").status_code == 200  # firm B's sam is another person


def test_one_client_trying_many_usernames_is_blocked(firm_a):
    make_user(firm_a, "target", role="staff")
    for n in range(6):
        assert token(firm_a, f"user{n}", "wrong", ip="10.0.0.66").status_code == 400
    assert token(firm_a, "target", PASSWORD, ip="10.0.0.66").status_code == 429
    assert token(firm_a, "target", PASSWORD, ip="10.0.0.67").status_code == 200


def test_the_admin_login_page_is_throttled_too(firm_a):
    make_user(firm_a, "clerk", role="staff")
    browser = BrowserClient(HTTP_HOST=f"{firm_a.schema_name}.localhost", REMOTE_ADDR="10.0.1.1")
    for _ in range(3):
        page = browser.post("/admin/login/?next=/admin/", {"username": "clerk", "password": "wrong"})
        assert page.status_code == 200  # the form again, with its error
    refused = browser.post("/admin/login/?next=/admin/", {"username": "clerk", "password": PASSWORD})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0


def test_with_the_cache_down_logins_go_on_unthrottled(firm_a, monkeypatch):
    from traf3li.core import throttle

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise ConnectionError("redis down")

            return fail

    monkeypatch.setattr(throttle, "cache", Down())
    make_user(firm_a, "open", role="staff")
    for _ in range(5):
        assert token(firm_a, "open", "wrong").status_code == 400
    assert token(firm_a, "open", PASSWORD).status_code == 200

"""Browser tests against the product as a user runs it: gunicorn, DEBUG off, collectstatic + WhiteNoise.

Fixtures:

- ``product_server`` (session): gunicorn on a free port, serving the TEST database with the
  production static set-up (hashed, compressed files collected into a temporary STATIC_ROOT), started
  by ``tests/browser/server.py``, which ``scripts/screenshots.py`` uses too.
  ``product_server.url(host)`` → ``http://<host>:<port>``.
- ``firm_url``: the scratch firm's base URL (``http://gamma.localhost:<port>``); the records a test
  creates there commit (``scratch_firm``), so the server's own connections see them.
- ``platform_url``: the platform host's base URL (``http://localhost:<port>``).
- ``open_page``: ``open_page(language="en"|"ar", allow=[(403, "/admin/audit/")])`` → a ``BrowserPage``
  whose Chromium fails the test on any response >= 400 (documents, stylesheets, scripts, XHR),
  any console error, uncaught page error or failed request, and on any request that leaves the
  machine (a CDN). ``allow`` names the statuses a test expects (a refused page).

Each page's language is sent as ``Accept-Language`` and as Django's language cookie, so both ways a
user picks a language are exercised. Screenshots go to ``.artifacts/browser/`` (not committed).
The tests skip, with a reason, only when there is no Chromium at ``/usr/bin/chromium``.
"""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from django.conf import settings
from django.db import connection

from tests.browser.server import CHROMIUM, CHROMIUM_ARGS, ROOT, run_product
from traf3li.core.db import product_database_env
from traf3li.core.processes import ServerDidNotStart

ARTIFACTS = ROOT / ".artifacts" / "browser"
LANGUAGES = ("en", "ar")
PASSWORD = "pass-word-123"  # conftest.make_user's


@pytest.fixture(scope="session")
def product_server(django_db_setup):
    """gunicorn serving the test database the way ``./bin/demo`` and production do, until the session ends."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: the browser tests need Debian's chromium package")
    assert connection.settings_dict["NAME"] == settings.DATABASES["default"]["TEST"]["NAME"], "not the test database"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        # As the product's own role, which owns nothing (ADR 0062), as ./bin/demo runs it.
        database = product_database_env()
        with run_product(
            database_url=database["DATABASE_URL"],
            database_owner_url=database["DATABASE_OWNER_URL"],
            redis_url=settings.REDIS_URL,
            base_domain=settings.BASE_DOMAIN,
            log=ARTIFACTS / "gunicorn.log",
        ) as server:
            yield server
    except ServerDidNotStart as exc:
        pytest.fail(str(exc))


@pytest.fixture
def firm_url(scratch_firm, product_server) -> str:
    return product_server.url(f"{scratch_firm.schema_name}.{settings.BASE_DOMAIN}")


@pytest.fixture
def platform_url(product_server) -> str:
    return product_server.url(settings.BASE_DOMAIN)


@pytest.fixture(scope="module")
def chromium(product_server):
    """One Chromium per test module: Playwright's sync API keeps an event loop running while it lives.

    Django refuses ORM calls while a loop runs in the thread (SynchronousOnlyOperation), though
    nothing here is async; the tests create and check records between page actions, so the check is
    lifted while the module's browser lives, and restored before the next module's tests.
    """
    from playwright.sync_api import sync_playwright

    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if saved is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


def _is_local(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return (
        host in {"127.0.0.1", "localhost", "::1"} or host.endswith(".localhost") or url.startswith(("data:", "blob:"))
    )


@dataclass
class BrowserPage:
    """A Playwright page that records every way a page can be broken without its text showing it."""

    page: object  # playwright.sync_api.Page
    name: str
    allow: list = field(default_factory=list)  # [(status, url substring or compiled regex)]
    problems: list = field(default_factory=list)
    shots: int = 0

    def _allowed(self, status: int, url: str) -> bool:
        return any(
            status == allowed and (pattern.search(url) if isinstance(pattern, re.Pattern) else pattern in url)
            for allowed, pattern in self.allow
        )

    def on_response(self, response):
        if response.status >= 400 and not self._allowed(response.status, response.url):
            self.problems.append(f"HTTP {response.status} {response.request.method} {response.url}")

    def on_console(self, message):
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        # Chromium logs each 4xx/5xx resource as a console error too: an allowed status is allowed there.
        status = re.match(r"Failed to load resource: the server responded with a status of (\d+)", message.text)
        if status and self._allowed(int(status.group(1)), url):
            return
        self.problems.append(f"console error: {message.text} ({url})")

    def on_page_error(self, error):
        self.problems.append(f"page error: {error}")

    def on_request_failed(self, request):
        # ERR_ABORTED is a request the page itself cancelled by navigating on (a form's redirect);
        # an external request is reported by on_route already.
        if request.failure != "net::ERR_ABORTED" and _is_local(request.url):
            self.problems.append(f"request failed: {request.method} {request.url} ({request.failure})")

    def on_route(self, route):
        # Nothing may come from outside this machine: the docs must work with no internet (no CDN).
        if _is_local(route.request.url):
            route.continue_()
        else:
            self.problems.append(f"external request: {route.request.url}")
            route.abort()

    def goto(self, url: str, **kwargs):
        """Open ``url``, wait until the network is idle, and fail now if anything went wrong."""
        response = self.page.goto(url, wait_until="networkidle", **kwargs)
        self.assert_clean(f"opening {url}")
        return response

    def login(self, base_url: str, username: str, password: str = PASSWORD, next_path: str = "/admin/"):
        self.goto(f"{base_url}/admin/login/?next={quote(next_path)}")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("[type=submit]")
        self.page.wait_for_load_state("networkidle")
        self.assert_clean(f"logging in as {username}")

    def assert_clean(self, when: str = ""):
        if self.problems:
            problems, self.problems = self.problems, []
            self.screenshot("failure")
            pytest.fail(f"the browser saw errors{' ' + when if when else ''}:\n  " + "\n  ".join(problems))

    def screenshot(self, label: str = "") -> Path:
        self.shots += 1
        path = ARTIFACTS / f"{self.name}-{self.shots:02d}{'-' + label if label else ''}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def __getattr__(self, name):  # everything else is the Playwright page's
        return getattr(self.page, name)


@pytest.fixture
def open_page(chromium, request):
    """``open_page(language="en", allow=())`` → a fresh ``BrowserPage`` in its own context (no shared cookies)."""
    contexts, pages = [], []
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:120]

    def _open(language: str = "en", allow=()):
        context = chromium.new_context(locale=language, extra_http_headers={"Accept-Language": language})
        contexts.append(context)
        # Django's language cookie on every local host of the server, as the language switcher sets it.
        for host in ("localhost", ".localhost", "127.0.0.1"):
            context.add_cookies(
                [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "domain": host, "path": "/"}]
            )
        page = BrowserPage(page=context.new_page(), name=f"{test_name}-{language}-{len(pages) + 1}", allow=list(allow))
        page.page.on("response", page.on_response)
        page.page.on("console", page.on_console)
        page.page.on("pageerror", page.on_page_error)
        page.page.on("requestfailed", page.on_request_failed)
        page.page.route("**/*", page.on_route)
        pages.append(page)
        return page

    try:
        yield _open
        for page in pages:  # what a test did after its last check still counts
            page.page.wait_for_load_state("networkidle")
            page.screenshot("end")
            page.assert_clean("by the end of the test")
    finally:
        for context in contexts:
            context.close()

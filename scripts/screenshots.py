"""Regenerate docs/screenshots/: the firm admin as the demo lawyer sees it, in English and in Arabic.

    .venv/bin/python scripts/screenshots.py

Seeds the demo data into a throwaway database (``SCREENSHOTS_DATABASE_URL``, by default
``postgresql://postgres@127.0.0.1:5432/traf3li_screens``; created when missing), starts the product
as the browser tests do (``tests/browser/server.py``: collectstatic, gunicorn, DEBUG off), signs in
as ``lawyer`` through the login form and saves 1280×900 PNGs. Redis is ``REDIS_URL``'s. A page that
answers 4xx/5xx, logs a console error or reaches off the machine stops the script: no screenshot of
a broken page is committed.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]
from services import ensure_database  # noqa: E402

from tests.browser.server import CHROMIUM, CHROMIUM_ARGS, run_product  # noqa: E402

DATABASE_URL = os.environ.get("SCREENSHOTS_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/traf3li_screens")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
BASE_DOMAIN = "localhost"
OUT = ROOT / "docs" / "screenshots"
LOGIN = ("lawyer", "demo-lawyer-2026")  # the README's demo login
VIEWPORT = {"width": 1280, "height": 900}
# (file, firm, language): the 360° page of the firm's first client, in each language.
SHOTS = [("client-360-en.png", "acme", "en"), ("client-360-ar.png", "nour", "ar")]


def manage(*args: str) -> None:
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL, "BASE_DOMAIN": BASE_DOMAIN}
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def watch(page, problems: list) -> None:
    def local(url: str) -> bool:
        host = url.split("/")[2].split(":")[0] if "://" in url else ""
        return host in ("localhost", "127.0.0.1") or host.endswith(".localhost") or url.startswith("data:")

    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status} {r.url}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.route("**/*", lambda route: route.continue_() if local(route.request.url) else route.abort())
    page.on("requestfailed", lambda r: r.failure != "net::ERR_ABORTED" and problems.append(f"failed: {r.url}"))


def shoot(browser, server, name: str, firm: str, language: str) -> Path:
    base = server.url(f"{firm}.{BASE_DOMAIN}")
    context = browser.new_context(viewport=VIEWPORT, locale=language, extra_http_headers={"Accept-Language": language})
    context.add_cookies([{"name": "django_language", "value": language, "domain": ".localhost", "path": "/"}])
    problems: list[str] = []
    page = context.new_page()
    watch(page, problems)
    try:
        page.goto(f"{base}/admin/login/?next=/admin/crm/client/", wait_until="networkidle")
        page.fill("#id_username", LOGIN[0])
        page.fill("#id_password", LOGIN[1])
        page.click("[type=submit]")
        page.wait_for_load_state("networkidle")
        page.click("#result_list tbody tr:first-child th a")  # the list's first client
        page.wait_for_selector("#timeline-360 tr.timeline-entry")
        page.wait_for_load_state("networkidle")
        if page.locator("#toggle-nav-sidebar").is_visible():
            page.click("#toggle-nav-sidebar")  # the panel at the page's full width
        if problems:
            raise SystemExit(f"{name}: the page is broken:\n  " + "\n  ".join(problems))
        # The panel itself (title, search, filters and its first rows), not the record's form above it.
        page.wait_for_timeout(500)  # the sidebar's transition
        path = OUT / name
        # The record's form is the admin's own; hide it so the viewport shows the header and the panel.
        page.add_style_tag(content="#content-main > form, .object-tools { display: none }")
        page.wait_for_timeout(200)
        page.screenshot(path=str(path))
        return path
    finally:
        context.close()


def main() -> int:
    from playwright.sync_api import sync_playwright

    ensure_database(DATABASE_URL)
    manage("migrate_schemas", "--verbosity", "0")
    manage("seed_demo")
    OUT.mkdir(parents=True, exist_ok=True)
    log = ROOT / ".artifacts" / "screenshots-gunicorn.log"
    with run_product(database_url=DATABASE_URL, redis_url=REDIS_URL, base_domain=BASE_DOMAIN, log=log) as server:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                for name, firm, language in SHOTS:
                    path = shoot(browser, server, name, firm, language)
                    print(f"{path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

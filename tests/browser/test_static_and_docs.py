"""The admin is styled and the API docs render, in a real Chromium against gunicorn with DEBUG off."""

import uuid

import pytest

from conftest import make_user, token_for
from tests.browser.conftest import LANGUAGES

pytestmark = pytest.mark.browser

STYLED = """() => {
    const sheets = [...document.styleSheets].map(s => s.href || "");
    const header = document.querySelector("#header");
    const hidden = document.querySelector(".theme-toggle .visually-hidden");
    return {
        sheets,
        headerBackground: header ? getComputedStyle(header).backgroundColor : null,
        hiddenWidth: hidden ? hidden.getBoundingClientRect().width : null,
        direction: getComputedStyle(document.documentElement).direction,
    };
}"""


def _assert_styled(page):
    styled = page.evaluate(STYLED)
    # the admin's stylesheets, by their hashed names (CompressedManifestStaticFilesStorage)
    assert any("/static/admin/css/base." in href and not href.endswith("/base.css") for href in styled["sheets"]), (
        styled
    )
    assert styled["headerBackground"] not in (None, "rgba(0, 0, 0, 0)", "transparent"), styled
    # unstyled, "Toggle theme" was a visible text next to a huge black square
    assert styled["hiddenWidth"] is not None and styled["hiddenWidth"] <= 1, styled
    return styled


@pytest.mark.parametrize("language", LANGUAGES)
def test_firm_admin_login_page_is_styled(firm_url, open_page, language):
    page = open_page(language)
    page.goto(f"{firm_url}/admin/login/")
    _assert_styled(page)
    assert page.locator("#id_username").is_visible()
    page.screenshot("login")


def test_platform_admin_login_page_is_styled(platform_url, open_page):
    page = open_page()
    page.goto(f"{platform_url}/admin/login/")
    _assert_styled(page)


def test_firm_admin_index_is_styled_after_login(scratch_firm, firm_url, open_page):
    admin = make_user(scratch_firm, f"styled_{uuid.uuid4().hex[:6]}", role="admin")
    page = open_page()
    page.login(firm_url, admin.username)
    assert page.url.endswith("/admin/")
    _assert_styled(page)
    page.screenshot("index")


@pytest.mark.parametrize("language", LANGUAGES)
def test_api_docs_render_swagger_ui_from_the_sidecar(platform_url, open_page, language):
    page = open_page(language)
    sidecar = []
    page.on("response", lambda r: sidecar.append(r.url) if "/static/drf_spectacular_sidecar/" in r.url else None)
    page.goto(f"{platform_url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Traf3li Timeline API" in page.inner_text(".swagger-ui .info .title")
    # every tag of /api/schema/, collapsed (docExpansion "none": Swagger UI expands no more than
    # about 127 operations at once); a tag opens on a click, with its operations
    page.wait_for_function("document.querySelectorAll('.swagger-ui .opblock-tag').length >= 15", timeout=30_000)
    page.locator(".swagger-ui .opblock-tag").first.click()
    page.wait_for_selector(".swagger-ui .opblock")
    assert any("swagger-ui-bundle" in url for url in sidecar), sidecar  # served by us; the CDN is blocked
    assert page.locator(".swagger-ui .servers").count() == 1  # the firm's host, with its {firm} variable
    page.screenshot("docs")


def test_try_it_out_from_the_platform_docs_reaches_a_firm(scratch_firm, product_server, platform_url, open_page):
    # given a user's token in the scratch firm
    user = make_user(scratch_firm, f"tryit_{uuid.uuid4().hex[:6]}", role="lawyer")
    token = token_for(scratch_firm, user)
    firm_api = product_server.url(f"{scratch_firm.schema_name}.localhost") + "/api/v1/me/"
    # when the docs page (the platform's origin) calls the firm's API, as "Try it out" does
    page = open_page()
    page.goto(f"{platform_url}/api/docs/")
    answer = page.evaluate(
        """async ([url, token]) => {
            const r = await fetch(url, {headers: {Authorization: `Token ${token}`}});
            return {status: r.status, body: await r.json()};
        }""",
        [firm_api, token],
    )
    # then the browser allows it (CORS) and the firm answers as that user
    assert answer["status"] == 200, answer
    assert answer["body"]["username"] == user.username


def test_the_page_helper_fails_on_a_4xx_asset_and_a_console_error(platform_url, open_page):
    page = open_page()
    with pytest.raises(pytest.fail.Exception, match=r"HTTP 404 GET .*/static/admin/css/missing\.css"):
        page.goto(f"{platform_url}/static/admin/css/missing.css")
    page.evaluate("console.error('broken widget')")
    with pytest.raises(pytest.fail.Exception, match="console error: broken widget"):
        page.assert_clean()
    # an expected refusal is named by the test
    allowed = open_page(allow=[(404, "/static/admin/css/missing.css")])
    allowed.goto(f"{platform_url}/static/admin/css/missing.css")

"""ReDoc at /api/redoc/ works without internet: drf-spectacular-sidecar's files and system fonts only.

drf-spectacular's own template loads Google Fonts; ``templates/drf_spectacular/redoc.html`` replaces it.
"""

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

URL = re.compile(r"""https?://|["'=(]//""", re.IGNORECASE)  # an absolute or protocol-relative URL
SCRIPT_SRC = re.compile(r"""<script[^>]*\ssrc="([^"]+)\"""")


@pytest.mark.parametrize("host", ["localhost", "alpha.localhost"])
def test_redoc_page_names_no_other_host_and_its_script_is_served(firm_a, host):
    client = Client(HTTP_HOST=host)
    # given the ReDoc page
    page = client.get("/api/redoc/")
    assert page.status_code == 200
    html = page.content.decode()
    # then it names no URL outside this host (Google Fonts, a CDN)
    assert URL.findall(html) == []
    assert "fonts.googleapis" not in html and "cdn." not in html
    # and the script it loads is the sidecar's ReDoc, served by us
    scripts = SCRIPT_SRC.findall(html)
    assert scripts == ["/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"]
    bundle = client.get(scripts[0])
    assert bundle.status_code == 200
    assert b"Redoc" in b"".join(bundle.streaming_content if bundle.streaming else [bundle.content])[:200_000]
    # and the schema it reads is this host's
    assert 'Redoc.init("/api/schema/"' in html
    assert client.get("/api/schema/").status_code == 200


def test_redoc_keeps_redoclys_logo_from_being_fetched(db):
    # ReDoc's sidebar always renders cdn.redoc.ly's logo: the page refuses images of other hosts first.
    html = Client(HTTP_HOST="localhost").get("/api/redoc/").content.decode()
    guard, bundle = html.index("Element.prototype.setAttribute"), html.index("redoc.standalone.js")
    assert guard < bundle

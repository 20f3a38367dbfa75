import statistics
import time

import pytest

from conftest import api_client_for
from traf3li.core import tenant_cache

pytestmark = pytest.mark.django_db


def test_measure_me(firm_a, admin_a, settings):
    from traf3li.api.authentication import tokens

    settings.TENANT_CACHE_MAX_AGE_SECONDS = settings.TOKEN_CACHE_MAX_AGE_SECONDS = 30
    settings.DEBUG = False
    tenant_cache.tenant_cache_forget()
    tokens.forget()
    api = api_client_for(firm_a, admin_a)
    for _ in range(200):
        assert api.get("/api/v1/me/").status_code == 200
    for label, cached in (("cached", True), ("uncached", False)):
        settings.TOKEN_CACHE_MAX_AGE_SECONDS = 30 if cached else 0
        runs = []
        for _ in range(5):
            samples = []
            for _ in range(1000):
                start = time.perf_counter()
                api.get("/api/v1/me/")
                samples.append(time.perf_counter() - start)
            runs.append(statistics.median(samples) * 1000)
        print(f"\nMEASURE {label}: medians of 5x1000 /api/v1/me/ ms: {[round(r, 3) for r in runs]}")


def test_queries_uncached(firm_a, admin_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = api_client_for(firm_a, admin_a)
    api.get("/api/v1/me/")
    with CaptureQueriesContext(connection) as q:
        api.get("/api/v1/me/")
    for x in q.captured_queries:
        print("\nQUERY", x["time"], x["sql"][:300])

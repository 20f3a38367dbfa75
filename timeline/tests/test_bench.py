"""The benchmark's loader and timer on a tiny firm, so ``bench_timeline`` keeps working."""

import pytest
from django.db import connection
from django.test import Client as DjangoClient

from timeline.bench import HEAVY_CLIENTS, SEARCH_RARE, Loader, Scenario, measure
from timeline.models import Entry, EntryLink
from timeline.rollups import rollup_rebuild
from timeline.selectors import _direct_totals, entry_stats, stats_shape
from traf3li.users.models import User

pytestmark = pytest.mark.django_db


def test_loader_copies_a_skewed_firm_that_the_api_reads(in_firm_a, admin_a, api_a):
    # given
    users = [(admin_a.id, admin_a.display_name)]
    loader = Loader(entries=3000, log=lambda message: None)
    before = Entry.objects.count()
    # when
    heavy, light = loader.families(User.objects.all())
    links, _ = loader.copy(heavy, light, users)
    rollup_rebuild()
    # then: every entry, its links, a heavy client's view, the rare word and equal stats
    assert Entry.objects.count() - before == 3000
    assert EntryLink.objects.filter(entry_id__gt=0).count() >= links
    assert len(heavy) == HEAVY_CLIENTS
    view = EntryLink.objects.filter(subject_type="client", subject_id=heavy[0].client.id).count()
    assert view == loader.heavy_size
    assert 0 < Entry.objects.filter(description__contains=SEARCH_RARE).count() <= 30
    assert entry_stats(filters={}) == stats_shape(_direct_totals({}))
    # and the timer reads a page through the API and as bare SQL
    client = DjangoClient(HTTP_HOST="alpha.localhost", HTTP_AUTHORIZATION=api_a._credentials["HTTP_AUTHORIZATION"])
    scenario = Scenario("360", f"/api/v1/clients/{heavy[0].client.id}/timeline/")
    # (the "bare" side on the test's own connection: a second one would wait on the rolled-back DDL)
    result = measure(client, connection.connection, scenario, runs=2, warmup=0).row()
    assert result["queries"] == 1 and result["api_median"] > 0

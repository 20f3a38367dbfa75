import random
import re

import pytest

from timeline import demo
from timeline.choices import EntryKind
from timeline.models import Entry
from timeline.selectors import _direct_totals, entry_stats, stats_shape
from timeline.tests.factories import client_family

pytestmark = pytest.mark.django_db
ARABIC = re.compile("[\u0600-\u06ff]")


def test_demo_timeline_covers_every_kind_in_both_languages_once(in_firm_a, monkeypatch, admin_a):
    # given a few clients, and a smaller demo than seed_demo's
    for name in ("Demo one", "Demo two", "Demo three", "Demo four"):
        client_family(name)
    monkeypatch.setattr(demo, "ENTRIES_PER_CLIENT", (20, 30))
    # when
    demo.seed(in_firm_a, random.Random(3))
    # then
    seeded = Entry.objects.filter(external_id__startswith=demo.MARKER)
    assert seeded.count() > 200
    assert set(seeded.values_list("kind", flat=True)) >= set(EntryKind.values) - {"case_created"}
    titles = list(seeded.values_list("title", flat=True))
    assert any(ARABIC.search(t) for t in titles) and any(not ARABIC.search(t) for t in titles)
    assert entry_stats(filters={}) == stats_shape(_direct_totals({}))
    # and a second run adds nothing
    demo.seed(in_firm_a, random.Random(3))
    assert Entry.objects.filter(external_id__startswith=demo.MARKER).count() == seeded.count()

"""The timeline's answers to lower apps' signals: it follows their changes, they never import it.

Connected by importing this module from ``TimelineConfig.ready()``.
"""

import zoneinfo

from django.dispatch import receiver
from django_tenants.utils import tenant_context

from timeline.rollups import rollup_rebuild
from traf3li.firms.signals import firm_timezone_changed


@receiver(firm_timezone_changed, dispatch_uid="timeline.rollups_recut_by_the_new_timezone")
def rollups_recut_by_the_new_timezone(sender, firm, new_timezone, **kwargs):
    """Re-cut every stats rollup by the firm's new local day, in the transaction of the change.

    The platform admin sends from the public schema, so enter the firm's schema here. The new zone
    is passed, not read from ``connection.tenant``, which may be a copy loaded before the change.
    The rebuild locks the rollups table, so the firm's writers wait for the change's COMMIT rather
    than race the rebuild's DELETE and INSERT.
    """
    with tenant_context(firm):
        rollup_rebuild(tz=zoneinfo.ZoneInfo(new_timezone))

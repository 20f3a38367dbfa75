"""What the crm services announce, so that the apps above (the timeline) can follow without crm
importing them.

Both are sent inside the service's transaction, after the write and its audit event, with
``sender`` the model class and keyword arguments ``instance``, ``before`` (a ``snapshot()``, None
on creation), ``after`` (a ``snapshot()``) and ``actor``. Receivers run in that transaction: what
they raise rolls the write back.
"""

from django.dispatch import Signal

record_created = Signal()
record_updated = Signal()

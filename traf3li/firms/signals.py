"""Signals the firms app sends, so apps above it can follow a firm's changes without being imported here.

``firm_timezone_changed(sender=Firm, firm=…, old_timezone=…, new_timezone=…)`` is sent by
``firm_update`` when the timezone really changes (API ``PATCH /api/v1/firm/``, the platform
admin, any other caller), with ``firm`` already holding the new timezone. Anything cut by the
firm-local day or month (the timeline's stat rollups) must be re-cut.

It is sent inside the transaction that changes the timezone, on purpose:
- whatever a receiver derives from the new timezone commits with it or not at all: no reader ever
  sees the new timezone with rollups cut in the old one, and a receiver that fails rolls the
  change back (``send``, not ``send_robust``), so the firm never keeps a timezone its data
  disagrees with. ``on_commit`` would leave a window of wrong stats after every change, and
  wrong stats for good if the process died before the receiver ran;
- it is sent after the firm's row is locked and saved, before the audit event, so a receiver's
  locks come before the audit head, which writers take last.

Receivers may be called from the public schema (the platform admin): they enter the firm's schema
themselves. They must not do network I/O in the transaction; a receiver that needs to should
register its own ``transaction.on_commit``.
"""

from django.dispatch import Signal

firm_timezone_changed = Signal()

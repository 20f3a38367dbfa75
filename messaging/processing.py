"""Turning stored deliveries into messages, calls and email events: claimed in batches, exactly once.

A batch is claimed with ``FOR UPDATE SKIP LOCKED`` (two workers split the queue, never share a
row) and processed in the same transaction that marks it processed, so a worker killed mid-batch
leaves its rows unprocessed and unlocked for the next run: nothing lost, nothing doubled. Each
delivery runs in a savepoint; one that fails keeps its error and waits for the next run, without
holding back the rest of its batch.

The handler of each endpoint (parsing the provider's payload, matching the counterpart and
recording on the timeline) registers with ``delivery_handler_register``; an endpoint without a
handler stays queued rather than being marked done.

A handler raises :class:`Permanent` for a delivery that can never succeed (a stored body its
parser refuses): the delivery is marked processed with the error kept in ``last_error``, instead
of being retried by every run. Any other exception is transient and retried.
"""

import logging
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from messaging.models import WebhookDelivery

log = logging.getLogger(__name__)
BATCH = 200
_HANDLERS: dict[str, Callable[[WebhookDelivery], None]] = {}
# Set-based handlers of a whole batch of one endpoint: they return the ids they handled, and the
# rest (or, when they raise, all of it, their savepoint rolled back) goes through _HANDLERS one by one.
_BATCH_HANDLERS: dict[str, Callable[[list[WebhookDelivery]], set[int]]] = {}


class Later(Exception):  # noqa: N818 - a kind of outcome, not only an error
    """Raised by a handler for a delivery that can't process yet (it waits for something): retried by
    the next run like any transient failure, and logged as information, not as an error."""


class Permanent(Exception):  # noqa: N818 - a kind of outcome, not only an error
    """Raised by a handler for a delivery that will never process: kept as its error, not retried."""


def delivery_handler_register(endpoint: str, handler: Callable[[WebhookDelivery], None]) -> None:
    _HANDLERS[endpoint] = handler


def delivery_handler_unregister(endpoint: str) -> None:
    _HANDLERS.pop(endpoint, None)
    _BATCH_HANDLERS.pop(endpoint, None)


def delivery_batch_handler_register(endpoint: str, handler: Callable[[list[WebhookDelivery]], set[int]]) -> None:
    """A set-based handler for the endpoint's deliveries, beside its per-delivery handler (which it must match)."""
    _BATCH_HANDLERS[endpoint] = handler


def _batched(claimed: list[WebhookDelivery]) -> set[int]:
    """What the set-based handlers took of the batch (each endpoint's share in a savepoint)."""
    by_endpoint: dict[str, list[WebhookDelivery]] = {}
    for delivery in claimed:
        by_endpoint.setdefault(delivery.endpoint, []).append(delivery)
    handled = set()
    for endpoint, deliveries in by_endpoint.items():
        handler = _BATCH_HANDLERS.get(endpoint)
        if handler is None or len(deliveries) < 2:
            continue
        try:
            with transaction.atomic():
                handled |= handler(deliveries)
        except Exception as exc:  # noqa: BLE001 - undone; the per-delivery path decides each one
            log.info("batch of %s %s deliveries handed to the per-delivery path: %s", len(deliveries), endpoint, exc)
    return handled


def deliveries_process(*, batch: int = BATCH, older_than_seconds: int = 0) -> int:
    """Process owed deliveries until none is left; returns how many were processed."""
    done, failing = 0, set()  # a delivery that failed is retried by the next run, not by this one
    while True:
        with transaction.atomic():
            owed = WebhookDelivery.objects.filter(processed_at__isnull=True, endpoint__in=list(_HANDLERS))
            owed = owed.exclude(pk__in=failing)
            if older_than_seconds:
                owed = owed.filter(received_at__lte=timezone.now() - timedelta(seconds=older_than_seconds))
            claimed = list(owed.select_for_update(skip_locked=True).order_by("received_at", "id")[:batch])
            if not claimed:
                return done
            batched = _batched(claimed)
            finished, failed, given_up = [pk for pk in (d.pk for d in claimed) if pk in batched], [], []
            for delivery in claimed:
                if delivery.pk in batched:
                    continue
                try:
                    with transaction.atomic():
                        _HANDLERS[delivery.endpoint](delivery)
                    finished.append(delivery.pk)
                except Later as exc:
                    log.info("delivery %s waits: %s", delivery.pk, exc)
                    failed.append((delivery.pk, f"{type(exc).__name__}: {exc}"[:2000]))
                except Permanent as exc:
                    log.warning("delivery %s will never process: %s", delivery.pk, exc)
                    given_up.append((delivery.pk, f"{type(exc).__name__}: {exc}"[:2000]))
                except Exception as exc:  # noqa: BLE001 - kept on the row, retried by the next run
                    log.exception("delivery %s failed", delivery.pk)
                    failed.append((delivery.pk, f"{type(exc).__name__}: {exc}"[:2000]))
            # One UPDATE per row and run (each leaves a dead tuple for VACUUM in this busy queue table).
            # With the rows' ``received_at`` (the partition key, ADR 0064) each UPDATE locks only the
            # months it writes, not every partition: the retention purge's lock of an expiring month
            # then never waits for a worker that waits for it.
            now, attempt = timezone.now(), F("attempts") + 1
            received = {delivery.pk: delivery.received_at for delivery in claimed}
            WebhookDelivery.objects.filter(pk__in=finished, received_at__in={received[pk] for pk in finished}).update(
                processed_at=now, last_error="", attempts=attempt
            )
            for pk, error in failed:
                owed_row = WebhookDelivery.objects.filter(pk=pk, received_at=received[pk])
                owed_row.update(last_error=error, attempts=attempt)
                failing.add(pk)
            for pk, error in given_up:
                WebhookDelivery.objects.filter(pk=pk, received_at=received[pk]).update(
                    processed_at=now, last_error=error, attempts=attempt
                )
        done += len(finished) + len(given_up)
        if len(claimed) < batch:
            return done

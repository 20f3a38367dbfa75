"""Keyset (cursor) pagination on a stable (timestamp, id) key: page 1,000 costs what page 1 costs.

The cursor holds the last row's key. The filter uses the redundant-bound form
``ts <= t AND (ts < t OR id < i)`` rather than ``ts < t OR (ts = t AND id < i)``: the first makes
``ts <= t`` an index condition, the second is a post-scan filter as slow as OFFSET
(docs/performance.md).
"""

import base64
import binascii
import json
from datetime import datetime

from django.db.models import Q
from django.utils.dateparse import parse_datetime
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from traf3li.api.bounds import INT8_MAX, offset_error

MAX_PAGE_SIZE = 200
ERROR_PAGE_SIZE = format_lazy(gettext_lazy("page_size must be a whole number from 1 to {last}."), last=MAX_PAGE_SIZE)
ERROR_CURSOR = gettext_lazy("Invalid cursor.")


def encode_cursor(values: tuple, reverse: bool) -> str:
    payload = {"k": [v.isoformat() if isinstance(v, datetime) else v for v in values], "r": int(reverse)}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(raw: str, is_datetime: bool) -> tuple[tuple, bool]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        ts, pk = payload["k"]
        reverse = bool(payload.get("r", 0))
        if is_datetime:
            ts = parse_datetime(ts)
            # A key is only compared, never moved, so any year a row may hold is fine; but a crafted
            # offset or id must still be one PostgreSQL takes.
            if ts is None or ts.tzinfo is None or offset_error(ts):
                raise ValueError
        if isinstance(pk, bool) or not isinstance(pk, int) or not -INT8_MAX <= pk <= INT8_MAX:
            raise ValueError
        return (ts, pk), reverse
    except (ValueError, TypeError, KeyError, binascii.Error, json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationError({"cursor": [ERROR_CURSOR]})


def keyset_filter(ts_field: str, id_field: str, values: tuple, descending: bool) -> Q:
    ts, pk = values
    if descending:
        return Q(**{f"{ts_field}__lte": ts}) & (Q(**{f"{ts_field}__lt": ts}) | Q(**{f"{id_field}__lt": pk}))
    return Q(**{f"{ts_field}__gte": ts}) & (Q(**{f"{ts_field}__gt": ts}) | Q(**{f"{id_field}__gt": pk}))


class KeysetPagination(BasePagination):
    """Newest first by ``view.keyset`` (default ``("created_at", "id")``); ``{"next", "previous", "results"}``."""

    page_size = 50
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({"page_size": [ERROR_PAGE_SIZE]})
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ValidationError({"page_size": [ERROR_PAGE_SIZE]})
        return size

    def window(self, request, view, *, is_datetime: bool) -> tuple[int, str | None, tuple | None, bool]:
        """The page asked for: its size, the raw cursor, the key it goes on from (None on the first
        page) and whether it goes back (a ``previous`` link). A view that reads its rows itself
        (the 360° page, ``SubjectTimelineView``) hands them to ``page_of``."""
        self.request = request
        self.ts_field, self.id_field = getattr(view, "keyset", ("created_at", "id"))
        size = self.get_page_size(request)
        raw = request.query_params.get(self.cursor_query_param)
        values, reverse = decode_cursor(raw, is_datetime) if raw else (None, False)
        return size, raw, values, reverse

    def paginate_queryset(self, queryset, request, view=None):
        ts_field = getattr(view, "keyset", ("created_at", "id"))[0]
        is_dt = queryset.model._meta.get_field(ts_field).get_internal_type() == "DateTimeField"
        size, raw, values, reverse = self.window(request, view, is_datetime=is_dt)
        if values is not None:
            queryset = queryset.filter(keyset_filter(self.ts_field, self.id_field, values, descending=not reverse))
        order = (self.ts_field, self.id_field) if reverse else (f"-{self.ts_field}", f"-{self.id_field}")
        return self.page_of(list(queryset.order_by(*order)[: size + 1]), size=size, raw=raw, reverse=reverse)

    def page_of(self, rows: list, *, size: int, raw, reverse: bool) -> list:
        """Keep ``size`` of the ``size + 1`` rows read (the extra one says whether there is more),
        newest first, and note which directions have a page."""
        has_more = len(rows) > size
        rows = rows[:size]
        if reverse:
            rows.reverse()
        self.page = rows
        self.has_next = has_more if not reverse else True
        self.has_previous = bool(raw) and (has_more if reverse else True)
        return rows

    def _key(self, row):
        get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
        ts = get(self.ts_field)
        if isinstance(ts, str):  # read as PostgreSQL's text (the 360° page): parsed for its two cursors only
            ts = parse_datetime(ts)
        return (ts, get(self.id_field))

    def get_next_link(self):
        if not self.page or not self.has_next:
            return None
        cursor = encode_cursor(self._key(self.page[-1]), reverse=False)
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, cursor)

    def get_previous_link(self):
        if not self.page or not self.has_previous:
            return None
        cursor = encode_cursor(self._key(self.page[0]), reverse=True)
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, cursor)

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "schema": {"type": "string"},
                "description": "The opaque cursor from a previous page's next or previous link.",
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 50},
            },
        ]

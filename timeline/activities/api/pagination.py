"""Upcoming activities read soonest first: a keyset on (deadline, id) ascending."""

from datetime import date

from rest_framework.exceptions import ValidationError

from traf3li.api.pagination import ERROR_CURSOR, KeysetPagination, decode_cursor, keyset_filter


class SoonestFirstPagination(KeysetPagination):
    """``KeysetPagination`` turned around: oldest key first, and the key may be a date."""

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.ts_field, self.id_field = view.keyset
        size = self.get_page_size(request)
        raw = request.query_params.get(self.cursor_query_param)
        backwards = False
        if raw:
            (key, pk), backwards = decode_cursor(raw, is_datetime=False)
            try:
                key = date.fromisoformat(key)
            except (TypeError, ValueError):
                raise ValidationError({"cursor": [ERROR_CURSOR]})
            queryset = queryset.filter(keyset_filter(self.ts_field, self.id_field, (key, pk), descending=backwards))
        order = (f"-{self.ts_field}", f"-{self.id_field}") if backwards else (self.ts_field, self.id_field)
        rows = list(queryset.order_by(*order)[: size + 1])
        has_more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
        self.page = rows
        self.has_next = has_more if not backwards else True
        self.has_previous = bool(raw) and (has_more if backwards else True)
        return rows

    def _key(self, row):
        key, pk = super()._key(row)
        return (key.isoformat(), pk)

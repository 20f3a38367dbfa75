import django_filters
from django.db.models import Q
from django.utils import timezone

from traf3li.api.filters import IdFilter
from traf3li.users.models import ApiToken


class ApiTokenFilterSet(django_filters.FilterSet):
    user = IdFilter(field_name="user_id", help_text="Only this user's tokens (admins; others see only theirs).")
    active = django_filters.BooleanFilter(
        method="filter_active", help_text="true: tokens that still work; false: the revoked and the expired."
    )

    class Meta:
        model = ApiToken
        fields = ["user", "active"]

    def filter_active(self, queryset, name, value):
        working = Q(revoked_at__isnull=True, expires_at__gt=timezone.now())
        return queryset.filter(working if value else ~working)

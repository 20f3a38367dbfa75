import django_filters
from django.db.models import Q

from traf3li.api.bounds import MAX_LINE
from traf3li.api.filters import ChoiceInFilter, MomentFilter
from traf3li.crm.choices import CaseStatus, ClientKind, LeadSource, LeadStatus
from traf3li.crm.models import Case, Client, Contact, Lead, Organization


class SearchFilterSet(django_filters.FilterSet):
    """A ``q`` over the record's name and contact points, plus created-at bounds."""

    search_fields: tuple[str, ...] = ("name", "email", "phone")
    q = django_filters.CharFilter(
        method="filter_q", max_length=MAX_LINE, help_text="Case-insensitive match on name, email or phone."
    )
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt")

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        query = Q()
        for field in self.search_fields:
            query |= Q(**{f"{field}__icontains": value})
        return queryset.filter(query)


class OrganizationFilterSet(SearchFilterSet):
    class Meta:
        model = Organization
        fields = ["q"]


class ClientFilterSet(SearchFilterSet):
    kind = ChoiceInFilter(choices=ClientKind.choices)

    class Meta:
        model = Client
        fields = ["kind", "organization", "email", "phone"]


class ContactFilterSet(SearchFilterSet):
    class Meta:
        model = Contact
        fields = ["client", "organization", "email", "phone"]


class LeadFilterSet(SearchFilterSet):
    status = ChoiceInFilter(choices=LeadStatus.choices)
    source = ChoiceInFilter(choices=LeadSource.choices)

    class Meta:
        model = Lead
        fields = ["status", "source", "email", "phone"]


class CaseFilterSet(SearchFilterSet):
    search_fields = ("title", "case_number", "description")
    status = ChoiceInFilter(choices=CaseStatus.choices)

    class Meta:
        model = Case
        fields = ["client", "status", "lawyer", "legal_hold"]

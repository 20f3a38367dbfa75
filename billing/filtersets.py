import django_filters
from django.db.models import Q

from billing.choices import InvoiceStatus, PaymentTerms
from billing.models import Invoice
from traf3li.api.bounds import MAX_LINE
from traf3li.api.filters import ChoiceInFilter, DayFilter, IdInFilter


class InvoiceFilterSet(django_filters.FilterSet):
    """The invoice list's filters, shared by the API and the admin."""

    status = ChoiceInFilter(choices=InvoiceStatus.choices)
    client = IdInFilter(field_name="client_id")
    case = IdInFilter(field_name="case_id")
    lawyer = IdInFilter(field_name="lawyer_id")
    payment_terms = ChoiceInFilter(choices=PaymentTerms.choices)
    currency = django_filters.CharFilter(method="filter_currency")
    issued_after = DayFilter(field_name="issue_date", lookup_expr="gte")
    issued_before = DayFilter(field_name="issue_date", lookup_expr="lte")
    due_after = DayFilter(field_name="due_date", lookup_expr="gte")
    due_before = DayFilter(field_name="due_date", lookup_expr="lte")
    q = django_filters.CharFilter(
        method="filter_q", max_length=MAX_LINE, help_text="Part of the invoice number or the client's name."
    )

    class Meta:
        model = Invoice
        fields = ["status", "client", "case", "lawyer", "payment_terms", "currency"]

    def filter_currency(self, queryset, name, value):
        codes = [code.strip().upper() for code in value.split(",") if code.strip()]
        return queryset.filter(currency__in=codes) if codes else queryset

    def filter_q(self, queryset, name, value):
        value = value.strip()[:100]
        if not value:
            return queryset
        return queryset.filter(Q(invoice_number__icontains=value) | Q(client__name__icontains=value))

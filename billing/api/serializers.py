from django.utils.translation import gettext_lazy
from rest_framework import serializers

from billing import utbms, zatca
from billing.api.fields import ExactDecimalField
from billing.choices import PLAN_SIZES, ItemType, PaymentMethod, PaymentTerms, VatCategory
from billing.models import Installment, Invoice, Payment, PaymentPlan
from traf3li.api.fields import DayField, MomentField
from traf3li.api.serializers import ModelSerializer
from traf3li.crm.models import Case, Client
from traf3li.users.models import User

ERROR_USE_ACTION = gettext_lazy("Computed or changed by the invoice's actions; it can't be set.")
# What a client may not send: each is computed, or moves only through an action.
COMPUTED = frozenset(
    {
        "invoice_number", "status", "due_date", "subtotal", "vat_amount", "total_amount", "amount_paid",
        "balance_due", "uuid", "icv", "invoice_hash", "previous_hash", "issued_at", "approved_at", "sent_at",
        "viewed_at", "paid_at", "written_off_at",
    }
)  # fmt: skip


class InvoiceItemSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ItemType.choices)
    date = DayField(required=False, allow_null=True)
    description = serializers.CharField(max_length=500)
    quantity = ExactDecimalField(max_whole_digits=8)
    unit_price = ExactDecimalField()
    vat_category = serializers.ChoiceField(choices=VatCategory.choices, default=VatCategory.STANDARD)
    task_code = serializers.CharField(
        max_length=8, required=False, allow_blank=True, default="", help_text="UTBMS task code (L110-L530)."
    )
    activity_code = serializers.CharField(
        max_length=8,
        required=False,
        allow_blank=True,
        default="",
        help_text="UTBMS activity code (A101-A111) for time; the expense code (E101-E124) for an expense.",
    )
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True, help_text="Net of VAT.")

    def validate(self, data):
        errors = utbms.item_code_errors(
            type=data["type"], task_code=data.get("task_code", ""), activity_code=data.get("activity_code", "")
        )
        if errors:
            raise serializers.ValidationError({name: [message] for name, message in errors.items()})
        return data


class InstallmentSerializer(ModelSerializer):
    class Meta:
        model = Installment
        fields = ["number", "due_date", "amount", "amount_paid", "status"]


class PaymentPlanSerializer(ModelSerializer):
    installments = InstallmentSerializer(many=True, read_only=True)

    class Meta:
        model = PaymentPlan
        fields = ["installments_count", "amount", "installments", "created_at"]


class PaymentSerializer(ModelSerializer):
    class Meta:
        model = Payment
        fields = ["id", "amount", "paid_at", "method", "reference", "created_at"]


class InvoiceSerializer(ModelSerializer):
    client = serializers.PrimaryKeyRelatedField(queryset=Client.objects.all())
    client_name = serializers.CharField(source="client.name", read_only=True)
    case = serializers.PrimaryKeyRelatedField(queryset=Case.objects.all(), required=False, allow_null=True)
    case_title = serializers.CharField(source="case.title", read_only=True, default=None)
    lawyer = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="Defaults to the case's lawyer.",
    )
    lawyer_name = serializers.CharField(source="lawyer.display_name", read_only=True, default=None)
    issue_date = DayField(required=False, help_text="Defaults to the firm's today.")
    payment_terms = serializers.ChoiceField(
        choices=PaymentTerms.choices, required=False, help_text="Defaults to the firm's; they give the due date."
    )
    currency = serializers.CharField(min_length=3, max_length=3, required=False, default="SAR")
    vat_rate = ExactDecimalField(max_whole_digits=3, required=False, help_text="Percent; defaults to the firm's (15).")
    items = InvoiceItemSerializer(many=True, required=False, max_length=500)
    payment_plan = PaymentPlanSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Invoice
        fields = [
            "id", "invoice_number", "status", "client", "client_name", "case", "case_title", "lawyer",
            "lawyer_name", "issue_date", "payment_terms", "due_date", "currency", "items", "subtotal", "vat_rate",
            "vat_amount", "total_amount", "amount_paid", "balance_due", "notes", "payment_plan", "uuid", "icv",
            "issued_at", "approved_at", "sent_at", "viewed_at", "paid_at", "written_off_at", "created_at",
            "updated_at",
        ]  # fmt: skip
        read_only_fields = [
            "invoice_number", "status", "due_date", "subtotal", "vat_amount", "total_amount", "amount_paid",
            "balance_due", "uuid", "icv", "issued_at", "approved_at", "sent_at", "viewed_at", "paid_at",
            "written_off_at", "created_at", "updated_at",
        ]  # fmt: skip

    def validate(self, data):
        sent = set(getattr(self, "initial_data", {}) or {})
        computed = sorted(sent & COMPUTED)
        if computed:
            raise serializers.ValidationError({name: [ERROR_USE_ACTION] for name in computed})
        return data


class InvoiceDetailSerializer(InvoiceSerializer):
    payments = PaymentSerializer(many=True, read_only=True)

    class Meta(InvoiceSerializer.Meta):
        fields = [*InvoiceSerializer.Meta.fields, "payments"]


class PaymentInputSerializer(serializers.Serializer):
    amount = ExactDecimalField()
    paid_at = MomentField(required=False, help_text="Defaults to now.")
    method = serializers.ChoiceField(choices=PaymentMethod.choices)
    reference = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")


class PaymentPlanInputSerializer(serializers.Serializer):
    installments = serializers.ChoiceField(choices=[(n, str(n)) for n in PLAN_SIZES])


class ZatcaSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    icv = serializers.IntegerField(allow_null=True)
    hash = serializers.CharField(allow_null=True, help_text="base64 SHA-256; null before approval.")
    previous_hash = serializers.CharField(allow_null=True)
    qr = serializers.CharField(allow_null=True, help_text="Phase-1 TLV (tags 1-5) in base64; null before approval.")

    @staticmethod
    def of(invoice: Invoice) -> dict:
        return {
            "uuid": invoice.uuid,
            "icv": invoice.icv,
            "hash": invoice.invoice_hash or None,
            "previous_hash": invoice.previous_hash or None,
            "qr": zatca.invoice_qr(invoice),
        }


class InvoiceStatsQuerySerializer(serializers.Serializer):
    since = DayField(required=False, help_text="First firm-local day of revenue and invoiced (inclusive).")
    until = DayField(required=False, help_text="Last firm-local day of revenue and invoiced (inclusive).")


class _AgingBucketSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=18, decimal_places=2)
    count = serializers.IntegerField()


class _AgingSerializer(serializers.Serializer):
    def get_fields(self):
        return {name: _AgingBucketSerializer() for name in ("0_30", "31_60", "61_90", "90_plus")}


class CurrencyStatsSerializer(serializers.Serializer):
    revenue = serializers.DecimalField(max_digits=18, decimal_places=2, help_text="Payments received.")
    invoiced = serializers.DecimalField(max_digits=18, decimal_places=2, help_text="Totals of issued invoices.")
    invoiced_count = serializers.IntegerField()
    outstanding = serializers.DecimalField(max_digits=18, decimal_places=2, help_text="Balances of open invoices.")
    outstanding_count = serializers.IntegerField()
    overdue = serializers.DecimalField(max_digits=18, decimal_places=2)
    aging = _AgingSerializer(help_text="Open balances by days past due: 0_30, 31_60, 61_90, 90_plus.")


class InvoiceStatsSerializer(serializers.Serializer):
    as_of = serializers.DateField()
    currencies = serializers.DictField(child=CurrencyStatsSerializer())


class ZatcaChainSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField()
    broken = serializers.DictField(required=False, help_text="The first invoice whose link fails, and why.")

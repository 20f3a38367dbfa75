"""The firm admin's invoices: lines inline while a draft, the actions as buttons, payments and plan shown,
and a printable page in Arabic and English with the ZATCA QR. Every write goes through the services."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from billing import selectors, services, utbms, zatca
from billing.choices import OPEN_STATUSES, PLAN_SIZES, InvoiceStatus, PaymentMethod
from billing.models import BillingSettings, Installment, Invoice, InvoiceItem, Payment
from billing.qr import qr_svg
from traf3li.admin_sites import firm_admin
from traf3li.api.exceptions import TransitionError
from traf3li.core.writes import form_changes

ACTIONS = {
    "submit": (services.invoice_submit, _("Submit for approval")),
    "approve": (services.invoice_approve, _("Approve and issue")),
    "send": (services.invoice_send, _("Send to the client")),
    "mark-viewed": (services.invoice_mark_viewed, _("Mark as viewed")),
    "write-off": (services.invoice_write_off, _("Write off")),
}
# Which buttons a status shows; the services still decide (a stale page gets the 409's message).
BUTTONS = {
    InvoiceStatus.DRAFT: ("submit",),
    InvoiceStatus.PENDING_APPROVAL: ("approve", "send"),
    InvoiceStatus.SENT: ("mark-viewed", "write-off"),
    InvoiceStatus.VIEWED: ("write-off",),
    InvoiceStatus.PARTIAL: ("write-off",),
    InvoiceStatus.OVERDUE: ("write-off",),
}
DONE = _("Done: the invoice is now %(status)s.")
# The printable invoice says everything in both languages, as Saudi tax invoices do.
PRINT_LABELS = {
    "title": _("Tax invoice"),
    "number": _("Invoice number"),
    "issue_date": _("Issue date"),
    "due_date": _("Due date"),
    "seller": _("Seller"),
    "vat_number": _("VAT number"),
    "buyer": _("Client"),
    "case": _("Case"),
    "description": _("Description"),
    "codes": _("UTBMS codes"),
    "quantity": _("Quantity"),
    "unit_price": _("Unit price"),
    "vat_category": _("VAT category"),
    "amount": _("Amount"),
    "subtotal": _("Total excluding VAT"),
    "vat": _("VAT"),
    "total": _("Total including VAT"),
    "paid": _("Paid"),
    "balance": _("Balance due"),
    "installments": _("Installments"),
    "not_issued": _("Not issued yet: the QR code appears once the invoice is approved."),
}
PAYMENT_RECORDED = _("Payment recorded.")
PLAN_CREATED = _("Payment plan created.")


class InvoiceItemForm(forms.ModelForm):
    class Meta:
        model = InvoiceItem
        fields = ["type", "date", "description", "quantity", "unit_price", "vat_category", "task_code", "activity_code"]

    def clean(self):
        data = super().clean()
        if data.get("type"):
            for name, message in utbms.item_code_errors(
                type=data["type"], task_code=data.get("task_code", ""), activity_code=data.get("activity_code", "")
            ).items():
                self.add_error(name, message)
        return data


class InvoiceItemInline(admin.TabularInline):
    model = InvoiceItem
    form = InvoiceItemForm
    extra = 1
    fields = [
        "type",
        "date",
        "description",
        "quantity",
        "unit_price",
        "vat_category",
        "task_code",
        "activity_code",
        "amount",
    ]
    readonly_fields = ["amount"]

    def _editable(self, obj) -> bool:
        return obj is None or obj.status == InvoiceStatus.DRAFT

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and firm_admin._registry[Invoice].has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and firm_admin._registry[Invoice].has_change_permission(request, obj)

    def has_view_permission(self, request, obj=None):
        return firm_admin._registry[Invoice].has_view_permission(request, obj)


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    fields = ["paid_at", "amount", "method", "reference", "recorded_by"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return firm_admin._registry[Invoice].has_view_permission(request, obj)


class PaymentForm(forms.Form):
    amount = forms.DecimalField(label=_("amount"), min_value=0.01, max_digits=14, decimal_places=2)
    method = forms.ChoiceField(label=_("method"), choices=PaymentMethod.choices)
    reference = forms.CharField(label=_("reference"), max_length=120, required=False)


class PlanForm(forms.Form):
    installments = forms.TypedChoiceField(
        label=_("installments"), choices=[(n, str(n)) for n in PLAN_SIZES], coerce=int
    )


class InvoiceAdminForm(forms.ModelForm):
    class Meta:
        model = Invoice
        fields = ["client", "case", "lawyer", "issue_date", "payment_terms", "currency", "vat_rate", "notes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        defaults = services.billing_settings()
        if not self.instance.pk:
            self.fields["vat_rate"].initial = defaults.vat_rate
            self.fields["payment_terms"].initial = defaults.payment_terms
        if "issue_date" in self.fields:  # read-only once the invoice has left draft
            self.fields["issue_date"].required = False
            self.fields["issue_date"].help_text = _("Leave empty for today.")


def _both_languages(labels: dict) -> dict:
    both = {}
    for language in ("en", "ar"):
        with translation.override(language):
            for key, label in labels.items():
                both.setdefault(key, {})[language] = str(label)
    return both


@admin.register(Invoice, site=firm_admin)
class InvoiceAdmin(admin.ModelAdmin):
    form = InvoiceAdminForm
    inlines = [InvoiceItemInline, PaymentInline]
    list_display = ["invoice_number", "client", "status", "total_amount", "balance_due", "currency", "due_date"]
    list_filter = ["status", "currency", "payment_terms"]
    list_select_related = ["client"]
    search_fields = ["invoice_number", "client__name"]
    date_hierarchy = "issue_date"
    change_form_template = "admin/billing/invoice/change_form.html"
    computed = [
        "invoice_number", "status", "due_date", "subtotal", "vat_amount", "total_amount", "amount_paid", "balance_due",
        "icv", "issued_at", "invoice_hash", "previous_hash", "sent_at", "viewed_at", "paid_at", "written_off_at",
    ]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.status == InvoiceStatus.DRAFT:
            return self.computed
        return [*InvoiceAdminForm.Meta.fields, *self.computed]

    def get_fields(self, request, obj=None):
        return [*InvoiceAdminForm.Meta.fields, *(self.computed if obj is not None else [])]

    def has_delete_permission(self, request, obj=None):
        return False  # numbers are gapless: an invoice stays, written off if need be

    def save_model(self, request, obj, form, change):
        """Drafts change through the services; the lines follow in ``save_related``."""
        if change:
            services.invoice_update(invoice=obj, data=form_changes(form), actor=request.user)

    def save_related(self, request, form, formsets, change):
        items = []
        for formset in formsets:
            if formset.model is InvoiceItem:
                items = [
                    {name: f.cleaned_data.get(name) for name in InvoiceItemForm.Meta.fields}
                    for f in formset.forms
                    if f.cleaned_data and not f.cleaned_data.get("DELETE")
                ]
        invoice = form.instance
        if not change:
            data = {name: form.cleaned_data.get(name) for name in InvoiceAdminForm.Meta.fields}
            data["currency"] = data["currency"] or "SAR"
            created = services.invoice_create(**data, items=items, actor=request.user)
            invoice.pk, invoice.invoice_number = created.pk, created.invoice_number
        elif invoice.status == InvoiceStatus.DRAFT and any(f.has_changed() for fs in formsets for f in fs.forms):
            services.invoice_update(invoice=invoice, data={}, items=items, actor=request.user)

    def construct_change_message(self, request, form, formsets, add=False):
        # The lines were saved by the services, not by the formsets: the audit log holds their changes.
        return super().construct_change_message(request, form, [], add)

    def get_urls(self):
        own = [
            path("<int:pk>/act/<str:verb>/", self.admin_site.admin_view(self.act_view), name="billing_invoice_act"),
            path("<int:pk>/pay/", self.admin_site.admin_view(self.pay_view), name="billing_invoice_pay"),
            path("<int:pk>/plan/", self.admin_site.admin_view(self.plan_view), name="billing_invoice_plan"),
            path("<int:pk>/print/", self.admin_site.admin_view(self.print_view), name="billing_invoice_print"),
        ]
        return own + super().get_urls()

    def _change_url(self, invoice):
        return HttpResponseRedirect(reverse("admin:billing_invoice_change", args=[invoice.pk]))

    def _run(self, request, invoice, call, success):
        try:
            call()
        except (TransitionError, PermissionDenied) as exc:
            self.message_user(request, str(exc), messages.ERROR)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        else:
            invoice.refresh_from_db()
            self.message_user(request, success(invoice), messages.SUCCESS)
        return self._change_url(invoice)

    def _invoice(self, request, pk):
        invoice = get_object_or_404(Invoice, pk=pk)
        if request.method != "POST":
            return invoice, HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request, invoice):
            raise PermissionDenied
        return invoice, None

    def act_view(self, request, pk, verb):
        invoice, refused = self._invoice(request, pk)
        if refused or verb not in ACTIONS:
            return refused or HttpResponseNotAllowed(["POST"])
        service = ACTIONS[verb][0]
        return self._run(
            request,
            invoice,
            lambda: service(invoice=invoice, actor=request.user),
            lambda fresh: DONE % {"status": fresh.get_status_display()},
        )

    def _form_action(self, request, pk, form_class, call, success):
        """POST a small form (a payment, a plan) to a service; its errors come back as a message."""
        invoice, refused = self._invoice(request, pk)
        if refused:
            return refused
        form = form_class(request.POST)
        if not form.is_valid():
            self.message_user(
                request, " ".join(str(e) for errors in form.errors.values() for e in errors), messages.ERROR
            )
            return self._change_url(invoice)
        return self._run(request, invoice, lambda: call(invoice, form.cleaned_data), lambda fresh: str(success))

    def pay_view(self, request, pk):
        return self._form_action(
            request,
            pk,
            PaymentForm,
            lambda invoice, data: services.payment_record(invoice=invoice, actor=request.user, **data),
            PAYMENT_RECORDED,
        )

    def plan_view(self, request, pk):
        return self._form_action(
            request,
            pk,
            PlanForm,
            lambda invoice, data: services.payment_plan_create(
                invoice=invoice, installments=data["installments"], actor=request.user
            ),
            PLAN_CREATED,
        )

    def print_view(self, request, pk):
        invoice = get_object_or_404(selectors.invoice_detail(), pk=pk)
        if not self.has_view_permission(request, invoice):
            raise PermissionDenied
        qr = zatca.invoice_qr(invoice)
        context = {
            **self.admin_site.each_context(request),
            "invoice": invoice,
            "items": list(invoice.items.all()),
            "qr": qr,
            "qr_svg": qr_svg(qr) if qr else "",
            "title": invoice.invoice_number,
            "labels": _both_languages(PRINT_LABELS),
            "installments": list(Installment.objects.filter(plan__invoice=invoice).order_by("number")),
        }
        return TemplateResponse(request, "admin/billing/invoice/print.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        invoice = self.get_object(request, object_id)
        extra = {}
        if invoice is not None:
            may_change = self.has_change_permission(request, invoice)
            extra = {
                "billing_buttons": [(verb, ACTIONS[verb][1]) for verb in BUTTONS.get(invoice.status, ())]
                if may_change
                else [],
                "billing_may_pay": may_change and invoice.status in OPEN_STATUSES,
                "billing_payment_form": PaymentForm(),
                "billing_plan_form": PlanForm(),
                "billing_installments": list(Installment.objects.filter(plan__invoice=invoice).order_by("number")),
                "billing_invoice": invoice,
            }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})


@admin.register(BillingSettings, site=firm_admin)
class BillingSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "vat_rate", "payment_terms", "updated_at"]
    fields = ["vat_rate", "payment_terms"]

    def has_add_permission(self, request):
        return False  # one per firm, made by the migration

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        services.billing_settings_update(data=form_changes(form), actor=request.user)

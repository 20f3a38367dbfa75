from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    """Invoices with UTBMS codes and VAT, payments and plans, the ZATCA QR and hash chain."""

    name = "billing"
    verbose_name = _("Billing")

    def ready(self):
        from audit.choices import action_register
        from traf3li.core.registries import case_of_register, hierarchy_register
        from traf3li.core.subjects import SubjectRef, subject_register

        subject_register("invoice", "billing.Invoice")
        for type_name, label in {
            "payment": "billing.Payment",
            "payment_plan": "billing.PaymentPlan",
            "installment": "billing.Installment",
            "billing_settings": "billing.BillingSettings",
        }.items():
            subject_register(type_name, label, public=False)
        # An invoice's entries show on its client's and its case's 360° views (ADR 0012).
        hierarchy_register(
            "invoice",
            lambda invoice: [
                SubjectRef("client", invoice.client_id),
                SubjectRef("case", invoice.case_id) if invoice.case_id else None,
            ],
        )
        case_of_register("invoice", _invoice_case)
        action_register("mark_overdue_installment", _("An installment of a payment plan turned overdue"))
        from billing import privacy

        privacy.register()  # the privacy data map: what invoices keep, and what tax law keeps (ADR 0060)


def _invoice_case(ref, invoice) -> int | None:
    if invoice is not None:
        return invoice.case_id
    from billing.models import Invoice

    return Invoice.objects.filter(pk=ref.id).values_list("case_id", flat=True).first()

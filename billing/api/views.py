from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from billing import selectors, services
from billing.api import serializers
from billing.filtersets import InvoiceFilterSet
from traf3li.api.permissions import IsFirmAdmin
from traf3li.api.views import FirmReadOnlyViewSet

HEADER_FIELDS = ("client", "case", "lawyer", "issue_date", "payment_terms", "currency", "vat_rate", "notes")


def _items(validated: dict) -> list[dict] | None:
    items = validated.get("items")
    return None if items is None else [dict(item) for item in items]


class InvoiceViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, FirmReadOnlyViewSet):
    """Invoices. Drafts are edited with PATCH; after that only the actions move them. Never deleted:
    their numbers are gapless."""

    answers_conflict = True  # each action needs its status (409)

    filterset_class = InvoiceFilterSet
    keyset = ("created_at", "id")
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.invoice_detail() if self.action == "retrieve" else selectors.invoice_list()

    def get_serializer_class(self):
        return serializers.InvoiceDetailSerializer if self.action == "retrieve" else serializers.InvoiceSerializer

    def _respond(self, invoice, code=status.HTTP_200_OK):
        fresh = selectors.invoice_detail().get(pk=invoice.pk)
        return Response(serializers.InvoiceDetailSerializer(fresh, context=self.get_serializer_context()).data, code)

    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        invoice = services.invoice_create(
            **{name: data[name] for name in HEADER_FIELDS if name in data},
            items=_items(data) or (),
            actor=request.user,
        )
        return self._respond(invoice, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        invoice = self.get_object()
        body = self.get_serializer(invoice, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        invoice = services.invoice_update(
            invoice=invoice,
            data={name: data[name] for name in HEADER_FIELDS if name in data},
            items=_items(data),
            actor=request.user,
        )
        return self._respond(invoice)

    def _act(self, service, **kwargs):
        invoice = self.get_object()  # another firm's id is a 404 before anything else
        return self._respond(service(invoice=invoice, actor=self.request.user, **kwargs))

    @extend_schema(request=None, responses=serializers.InvoiceDetailSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """Draft → pending approval."""
        return self._act(services.invoice_submit)

    @extend_schema(request=None, responses=serializers.InvoiceDetailSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve and issue (lawyers and admins): the ZATCA counter, hash and QR are fixed here."""
        return self._act(services.invoice_approve)

    @extend_schema(request=None, responses=serializers.InvoiceDetailSerializer)
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        """Approved → sent; from now it is outstanding."""
        return self._act(services.invoice_send)

    @extend_schema(request=None, responses=serializers.InvoiceDetailSerializer)
    @action(detail=True, methods=["post"], url_path="mark-viewed")
    def mark_viewed(self, request, pk=None):
        return self._act(services.invoice_mark_viewed)

    @extend_schema(request=None, responses=serializers.InvoiceDetailSerializer)
    @action(detail=True, methods=["post"], url_path="write-off")
    def write_off(self, request, pk=None):
        """Forgive the balance (lawyers and admins)."""
        return self._act(services.invoice_write_off)

    @extend_schema(
        request=serializers.PaymentInputSerializer,
        responses={201: serializers.InvoiceDetailSerializer, 409: None},
        description="Record a payment. More than the balance due is a 409 and records nothing.",
    )
    @action(detail=True, methods=["post"])
    def payments(self, request, pk=None):
        invoice = self.get_object()
        body = serializers.PaymentInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.payment_record(invoice=invoice, actor=request.user, **body.validated_data)
        return self._respond(invoice, status.HTTP_201_CREATED)

    @extend_schema(request=serializers.PaymentPlanInputSerializer, responses={201: serializers.InvoiceDetailSerializer})
    @action(detail=True, methods=["post"], url_path="payment-plan")
    def payment_plan(self, request, pk=None):
        """Split the balance into 2, 3, 4, 6 or 12 monthly installments."""
        invoice = self.get_object()
        body = serializers.PaymentPlanInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.payment_plan_create(
            invoice=invoice, installments=int(body.validated_data["installments"]), actor=request.user
        )
        return self._respond(invoice, status.HTTP_201_CREATED)

    @extend_schema(responses=serializers.ZatcaSerializer)
    @action(detail=True, methods=["get"], filterset_class=None)
    def zatca(self, request, pk=None):
        """The invoice's UUID, hash, previous hash and phase-1 QR (hash and QR are null before approval)."""
        return Response(serializers.ZatcaSerializer(serializers.ZatcaSerializer.of(self.get_object())).data)

    @extend_schema(parameters=[serializers.InvoiceStatsQuerySerializer], responses=serializers.InvoiceStatsSerializer)
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def stats(self, request):
        """Per currency: revenue (payments), invoiced, outstanding and overdue aging, from the rollups."""
        query = serializers.InvoiceStatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(serializers.InvoiceStatsSerializer(selectors.invoice_stats(**query.validated_data)).data)

    @extend_schema(responses=serializers.ZatcaChainSerializer)
    @action(
        detail=False,
        methods=["get"],
        url_path="zatca-verify",
        filterset_class=None,
        pagination_class=None,
        permission_classes=[IsFirmAdmin],
    )
    def zatca_verify(self, request):
        """Check the firm's invoice hash chain: ``{"ok", "checked"}``, or the first broken invoice."""
        checked, broken = selectors.chain_verify()
        body = {"ok": broken is None, "checked": checked}
        if broken is not None:
            body["broken"] = {
                "id": broken.invoice_id,
                "invoice_number": broken.invoice_number,
                "icv": broken.icv,
                "reason": broken.reason,
            }
        return Response(body)

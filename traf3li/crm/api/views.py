from django.db.models.deletion import ProtectedError
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ValidationError

from traf3li.api.views import FirmModelViewSet
from traf3li.crm import selectors, services
from traf3li.crm.api import serializers
from traf3li.crm.filtersets import (
    CaseFilterSet,
    ClientFilterSet,
    ContactFilterSet,
    LeadFilterSet,
    OrganizationFilterSet,
)

ERROR_PROTECTED = gettext_lazy(
    "This record still has dependent records (for example cases); remove or move them first."
)


class CrmRecordViewSet(FirmModelViewSet):
    """CRUD whose writes go through ``traf3li.crm.services`` (audited)."""

    answers_conflict = True  # a legal hold refuses the change (409)

    keyset = ("created_at", "id")

    def perform_create(self, serializer):
        instance = serializer.Meta.model(**serializer.validated_data)
        serializer.instance = services.record_create(instance=instance, actor=self.request.user)

    def perform_update(self, serializer):
        serializer.instance = services.record_update(
            instance=serializer.instance, data=serializer.validated_data, actor=self.request.user
        )

    def perform_destroy(self, instance):
        try:
            services.record_delete(instance=instance, actor=self.request.user)
        except ProtectedError:
            raise ValidationError({"detail": ERROR_PROTECTED})


class OrganizationViewSet(CrmRecordViewSet):
    serializer_class = serializers.OrganizationSerializer
    filterset_class = OrganizationFilterSet

    def get_queryset(self):
        return selectors.organization_list()


class ClientViewSet(CrmRecordViewSet):
    serializer_class = serializers.ClientSerializer
    filterset_class = ClientFilterSet

    def get_queryset(self):
        return selectors.client_list()


class ContactViewSet(CrmRecordViewSet):
    serializer_class = serializers.ContactSerializer
    filterset_class = ContactFilterSet

    def get_queryset(self):
        return selectors.contact_list()


class LeadViewSet(CrmRecordViewSet):
    serializer_class = serializers.LeadSerializer
    filterset_class = LeadFilterSet

    def get_queryset(self):
        return selectors.lead_list()


class CaseViewSet(CrmRecordViewSet):
    serializer_class = serializers.CaseSerializer
    filterset_class = CaseFilterSet

    def get_queryset(self):
        return selectors.case_list()

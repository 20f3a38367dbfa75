from rest_framework import serializers

from traf3li.api.serializers import ModelSerializer
from traf3li.crm.models import Case, Client, Contact, Lead, Organization
from traf3li.users.models import User


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="display_name")


class OrganizationSerializer(ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "email", "phone", "website", "created_at", "updated_at"]


class ClientSerializer(ModelSerializer):
    class Meta:
        model = Client
        fields = [
            "id",
            "name",
            "kind",
            "email",
            "phone",
            "organization",
            "national_id",
            "notes",
            "legal_hold",
            "created_at",
            "updated_at",
        ]


class ContactSerializer(ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "name", "email", "phone", "client", "organization", "job_title", "created_at", "updated_at"]


class LeadSerializer(ModelSerializer):
    class Meta:
        model = Lead
        fields = ["id", "name", "email", "phone", "source", "status", "notes", "created_at", "updated_at"]


class CaseSerializer(ModelSerializer):
    lawyer = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), allow_null=True, required=False)

    class Meta:
        model = Case
        fields = [
            "id",
            "title",
            "case_number",
            "client",
            "status",
            "lawyer",
            "legal_hold",
            "description",
            "court",
            "opened_on",
            "closed_on",
            "created_at",
            "updated_at",
        ]

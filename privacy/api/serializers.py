from rest_framework import serializers

from privacy.export import STATUSES

SUBJECT_HELP = 'The person: "contact:5", "client:42" or "lead:7".'


class SubjectInputSerializer(serializers.Serializer):
    subject = serializers.CharField(max_length=64, help_text=SUBJECT_HELP)


class AsyncInputSerializer(SubjectInputSerializer):
    """The subject, and ``async``: run in a task (202) even for a small subject."""

    def get_fields(self):
        # "async" is a Python keyword: declared here, not as a class attribute.
        fields = super().get_fields()
        fields["async"] = serializers.BooleanField(
            default=False, required=False, help_text="Run in a task (202) even for a small subject."
        )
        return fields


class ExportQuerySerializer(AsyncInputSerializer):
    format = serializers.ChoiceField(choices=["json", "zip"], default="json", required=False)


class RedactedSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField())
    fields = serializers.ListField(child=serializers.CharField())


class ErasureSerializer(serializers.Serializer):
    subject = serializers.CharField()
    redacted = serializers.DictField(child=RedactedSerializer(), help_text="Per model: the ids and fields redacted.")


class ExportSerializer(serializers.Serializer):
    subject = serializers.DictField()
    exported_at = serializers.DateTimeField()
    data = serializers.DictField(
        child=serializers.ListField(child=serializers.DictField()), help_text="Per model: the rows held."
    )


class ExportStatusSerializer(serializers.Serializer):
    """A stored export (202 when queued, then its status URL): the download URL once it is done."""

    id = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUSES)
    subject = serializers.CharField(help_text=SUBJECT_HELP)
    format = serializers.ChoiceField(choices=["json", "zip"])
    requested_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True, help_text="When the file and its link go.")
    status_url = serializers.URLField()
    download_url = serializers.URLField(
        allow_null=True, help_text="Signed; works on this firm's host only, until expires_at. Null until done."
    )
    size = serializers.IntegerField(allow_null=True, help_text="Bytes.")
    sha256 = serializers.CharField(allow_null=True)


class ErasureStatusSerializer(serializers.Serializer):
    """A queued erasure (202, then its status URL): what it redacted once done, or why it was refused."""

    id = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUSES)
    subject = serializers.CharField(help_text=SUBJECT_HELP)
    requested_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True, help_text="When this status goes.")
    status_url = serializers.URLField()
    result = ErasureSerializer(allow_null=True, help_text="As the 200 answer has it; null until done.")
    error = serializers.CharField(help_text="Why it failed (a legal hold placed since the request).")

from rest_framework import serializers

SUBJECT_HELP = 'The person: "contact:5", "client:42" or "lead:7".'


class SubjectInputSerializer(serializers.Serializer):
    subject = serializers.CharField(max_length=64, help_text=SUBJECT_HELP)


class ExportQuerySerializer(SubjectInputSerializer):
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

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from messaging import outbound, selectors, services
from messaging.choices import (
    IDENTIFIERS,
    SECRET_LABELS,
    SECRETS,
    CallStatus,
    Device,
    MessageStatus,
    MessageType,
    label_of,
)
from messaging.models import (
    Call,
    ChannelAccount,
    EmailCampaign,
    EmailEvent,
    EmailMessage,
    Message,
    RejectedDelivery,
    WebhookDelivery,
)
from traf3li.admin_sites import ReadOnlyAdmin, firm_admin


def _secret_field(label) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Write-only: leave empty to keep the stored value."),
    )


class ChannelAccountForm(forms.ModelForm):
    """The secrets are write-only: empty fields keep what is stored, and nothing stored is shown."""

    auth_token = _secret_field(SECRET_LABELS["auth_token"])
    app_secret = _secret_field(SECRET_LABELS["app_secret"])
    verify_token = _secret_field(SECRET_LABELS["verify_token"])
    public_key = _secret_field(SECRET_LABELS["public_key"])
    signing_key = _secret_field(SECRET_LABELS["signing_key"])
    access_token = _secret_field(SECRET_LABELS["access_token"])

    class Meta:
        model = ChannelAccount
        fields = ["provider", "name", "is_active", "account_sid", "from_number", "phone_number_id"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["provider"].disabled = True

    def clean(self):
        data = super().clean()
        provider = data.get("provider") or self.instance.provider
        if provider:
            try:
                services.credentials_check(provider, self.credentials(), partial=bool(self.instance.pk))
            except ValidationError as exc:
                raise ValidationError(exc.messages) from exc
        return data

    def credentials(self) -> dict:
        provider = self.cleaned_data.get("provider") or self.instance.provider
        names = (*IDENTIFIERS.get(provider, ()), *SECRETS.get(provider, ()))
        return {name: self.cleaned_data[name] for name in names if self.cleaned_data.get(name)}


@admin.register(ChannelAccount, site=firm_admin)
class ChannelAccountAdmin(admin.ModelAdmin):
    form = ChannelAccountForm
    list_display = ["name", "provider", "is_active", "account_sid", "phone_number_id", "updated_at"]
    list_filter = ["provider", "is_active"]
    readonly_fields = ["secrets_set", "created_at", "updated_at"]

    @admin.display(description=_("secrets set"))
    def secrets_set(self, obj):
        return ", ".join(str(SECRET_LABELS[name]) for name in obj.secrets_set) or "—"

    def save_model(self, request, obj, form, change):
        if change:
            data = {name: form.cleaned_data[name] for name in ("name", "is_active") if name in form.changed_data}
            account = ChannelAccount.objects.get(pk=obj.pk)
            services.channel_account_update(
                account=account, data=data, credentials=form.credentials(), actor=request.user
            )
        else:
            created = services.channel_account_create(
                provider=obj.provider,
                name=obj.name,
                is_active=obj.is_active,
                credentials=form.credentials(),
                actor=request.user,
            )
            obj.pk = created.pk

    def has_delete_permission(self, request, obj=None):
        return False  # deliveries name their account: deactivate it instead


@admin.register(WebhookDelivery, site=firm_admin)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "provider", "endpoint", "received_at", "processed_at", "attempts"]
    list_filter = ["provider", "endpoint"]
    exclude = ["body"]


@admin.register(RejectedDelivery, site=firm_admin)
class RejectedDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["provider", "reason", "count", "last_at"]


def _history(obj, statuses) -> str:
    """The status history as a small table: when, which status (by its name), the provider's error."""
    rows = []
    for item in obj.status_history:
        at = parse_datetime(str(item.get("at") or ""))
        error = " ".join(part for part in (item.get("error_code"), item.get("error_message")) if part)
        rows.append((at.strftime("%Y-%m-%d %H:%M:%S") if at else "", label_of(statuses, item.get("status", "")), error))
    return format_html_join("", "<div>{} · {} {}</div>", rows) or "—"


class CounterpartAdmin(ReadOnlyAdmin):
    """Messages and calls as the providers reported them: read-only; triage links them (the inbox)."""

    list_per_page = 50
    search_fields = ["from_address", "to_address", "external_id"]
    date_hierarchy = "created_at"
    statuses: type = MessageStatus

    @admin.display(description=_("status"), ordering="status")
    def status_label(self, obj):
        return label_of(self.statuses, obj.status)

    @admin.display(description=_("status history"))
    def history(self, obj):
        return _history(obj, self.statuses)

    @admin.display(description=_("linked record"))
    def linked(self, obj):
        if not obj.subject_id:
            return _("Unmatched")
        subject = selectors.subjects_resolve([(obj.subject_type, obj.subject_id)]).get(
            (obj.subject_type, obj.subject_id)
        )
        return subject["name"] if subject else f"#{obj.subject_id}"


@admin.register(Message, site=firm_admin)
class MessageAdmin(CounterpartAdmin):
    list_display = ["created_at", "channel", "direction", "from_address", "to_address", "status_label", "send_state"]
    list_filter = ["channel", "direction", "send_state"]
    search_fields = [*CounterpartAdmin.search_fields, "body"]
    fields = [
        "channel",
        "direction",
        "from_address",
        "to_address",
        "type_label",
        "body",
        "status_label",
        "history",
        "sent_at",
        "delivered_at",
        "read_at",
        "linked",
        "send_state",
        "send_attempts",
        "next_attempt_at",
        "last_error",
        "sent_by",
        "external_id",
        "created_at",
    ]
    readonly_fields = fields
    actions = ["resend_selected"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("sent_by")

    @admin.display(description=_("message type"))
    def type_label(self, obj):
        return label_of(MessageType, obj.message_type)

    def has_resend_permission(self, request):
        return request.user.is_active

    @admin.action(description=_("Send again (after checking with the provider)"), permissions=["resend"])
    def resend_selected(self, request, queryset):
        done = 0
        for message in queryset.order_by("pk"):
            try:
                outbound.message_resend(message=message, actor=request.user)
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"{message.to_address}: {' '.join(exc.messages)}", messages.WARNING)
        if done:
            text = ngettext("%(count)d message will be sent again.", "%(count)d messages will be sent again.", done)
            self.message_user(request, text % {"count": done}, messages.SUCCESS)


@admin.register(Call, site=firm_admin)
class CallAdmin(CounterpartAdmin):
    statuses = CallStatus
    list_display = ["created_at", "direction", "from_address", "to_address", "status_label", "outcome", "duration"]
    list_filter = ["direction", "outcome"]
    fields = [
        "direction",
        "from_address",
        "to_address",
        "status_label",
        "outcome",
        "duration",
        "history",
        "recording_url",
        "linked",
        "external_id",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("duration (seconds)"), ordering="duration_seconds")
    def duration(self, obj):
        return obj.duration_seconds if obj.duration_seconds is not None else "—"


class EmailEventInline(admin.TabularInline):
    model = EmailEvent
    fields = ["occurred_at", "event", "device_label", "machine_open", "url", "bounce_type", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["occurred_at", "id"]

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("device"))
    def device_label(self, obj):
        return label_of(Device, obj.device)


@admin.register(EmailMessage, site=firm_admin)
class EmailMessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "recipient", "campaign", "status", "opens", "clicks", "bounced", "complained"]
    list_filter = ["status", "bounced", "unsubscribed", "complained"]
    search_fields = ["recipient", "message_id"]
    date_hierarchy = "created_at"
    inlines = [EmailEventInline]
    fields = [
        "recipient",
        "campaign",
        "status",
        "sent_at",
        "delivered_at",
        "first_opened_at",
        "first_clicked_at",
        "opens",
        "clicks",
        "bounced",
        "bounce_type",
        "unsubscribed",
        "complained",
        "message_id",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("campaign")


@admin.register(EmailCampaign, site=firm_admin)
class EmailCampaignAdmin(ReadOnlyAdmin):
    list_display = ["name", "provider", "created_at"]
    search_fields = ["name"]
    fields = ["name", "provider", "external_id", "created_at"]
    readonly_fields = fields

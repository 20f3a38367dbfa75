from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from messaging import services
from messaging.choices import IDENTIFIERS, SECRET_LABELS, SECRETS
from messaging.models import ChannelAccount, RejectedDelivery, WebhookDelivery
from traf3li.admin_sites import firm_admin


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

    class Meta:
        model = ChannelAccount
        fields = ["provider", "name", "is_active", "account_sid", "phone_number_id"]

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


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery, site=firm_admin)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "provider", "endpoint", "received_at", "processed_at", "attempts"]
    list_filter = ["provider", "endpoint"]
    exclude = ["body"]


@admin.register(RejectedDelivery, site=firm_admin)
class RejectedDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["provider", "reason", "count", "last_at"]

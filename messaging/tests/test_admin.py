"""The channel account admin: secrets go in, are encrypted, and never come back out."""

from django_tenants.utils import schema_context

from conftest import browser_for
from messaging.models import ChannelAccount


def test_an_admin_adds_an_account_and_its_secret_is_never_shown(firm_a, admin_a):
    browser = browser_for(firm_a, admin_a)
    form = browser.get("/admin/messaging/channelaccount/add/").content.decode()
    assert 'name="signing_key"' in form and 'type="password"' in form
    added = browser.post(
        "/admin/messaging/channelaccount/add/",
        {"provider": "mailgun", "name": "Mail", "is_active": "on", "signing_key": "very-secret-key"},
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    with schema_context(firm_a.schema_name):
        account = ChannelAccount.objects.get()
        assert account.secrets == {"signing_key": "very-secret-key"}
    page = browser.get(f"/admin/messaging/channelaccount/{account.pk}/change/").content.decode()
    assert "very-secret-key" not in page and account.secrets_encrypted not in page
    assert "Webhook signing key" in page  # which secret is set, by its name
    # an empty secret field on a change keeps the stored secret
    kept = browser.post(f"/admin/messaging/channelaccount/{account.pk}/change/", {"name": "Mail 2", "is_active": "on"})
    assert kept.status_code == 302
    with schema_context(firm_a.schema_name):
        account.refresh_from_db()
        assert (account.name, account.secrets) == ("Mail 2", {"signing_key": "very-secret-key"})


def test_an_account_without_its_secret_is_refused_by_the_form(firm_a, admin_a):
    page = browser_for(firm_a, admin_a).post(
        "/admin/messaging/channelaccount/add/", {"provider": "twilio", "name": "No token", "is_active": "on"}
    )
    assert page.status_code == 200 and "required for Twilio (voice and SMS)" in page.content.decode()
    with schema_context(firm_a.schema_name):
        assert not ChannelAccount.objects.exists()


def test_staff_read_messages_and_resend_one_whose_outcome_is_unknown(firm_a, staff_a):
    from messaging.models import Message

    with schema_context(firm_a.schema_name):
        account = ChannelAccount.objects.create(provider="whatsapp", name="wa", phone_number_id="1")
        unknown = Message.objects.create(
            provider="whatsapp",
            channel="whatsapp",
            direction="outbound",
            external_id="out:abc",
            client_ref="abc",
            to_address="+966501234567",
            status="queued",
            send_state="uncertain",
            account=account,
        )
        sent = Message.objects.create(
            provider="whatsapp",
            channel="whatsapp",
            direction="outbound",
            external_id="wamid.x",
            client_ref="def",
            to_address="+966501234568",
            status="read",
            send_state="sent",
            account=account,
        )
    browser = browser_for(firm_a, staff_a)
    page = browser.get(f"/admin/messaging/message/{unknown.pk}/change/")
    assert page.status_code == 200 and "Outcome unknown" in page.content.decode()
    answer = browser.post(
        "/admin/messaging/message/",
        {"action": "resend_selected", "_selected_action": [unknown.pk, sent.pk]},
        follow=True,
    )
    html = answer.content.decode()
    assert "1 message will be sent again." in html and "+966501234568" in html  # the sent one is named, refused
    with schema_context(firm_a.schema_name):
        unknown.refresh_from_db()
        sent.refresh_from_db()
    assert (unknown.send_state, sent.send_state) == ("pending", "sent")

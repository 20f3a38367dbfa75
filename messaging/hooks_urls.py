"""The providers' webhooks, at the contract's paths on a firm's host."""

from django.urls import path

from messaging import webhooks

app_name = "hooks"
urlpatterns = [
    path("twilio/voice/", webhooks.twilio_voice, name="twilio-voice"),
    path("twilio/sms/", webhooks.twilio_sms, name="twilio-sms"),
    path("whatsapp/", webhooks.whatsapp, name="whatsapp"),
    path("sendgrid/", webhooks.sendgrid, name="sendgrid"),
    path("mailgun/", webhooks.mailgun, name="mailgun"),
]

"""Demo channel accounts, with published secrets, so that ``simulate_webhooks`` can sign for them.

These secrets are for the demo firms only and are printed in the README: never reuse them. The
SendGrid key pair is generated once for the demo; the simulator signs with its private half,
which a real firm never has (SendGrid keeps it).
"""

from messaging import services
from messaging.models import ChannelAccount

DEMO_SENDGRID_PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7xNy98NGgF35UbFY
eZNCer8LLhDejS3h+Pi8WLn4/ZKhRANCAATQajh7WjKmd8NYx2+OUsdC40WxVp7e
kVcJ4TmTg4NPxJhHu/sR5Dh8yhW1X7WvwjAHFwn7bULTnTisQ9vGey+f
-----END PRIVATE KEY-----
"""
DEMO_SENDGRID_PUBLIC_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0Go4e1oypnfDWMdvjlLHQuNFsVae3pFXCeE5k4ODT8SYR7v7EeQ4fMoVtV+1r8Iw"
    "BxcJ+21C0504rEPbxnsvnw=="
)


def demo_credentials(slug: str) -> dict[str, dict]:
    return {
        "twilio": {"account_sid": f"ACdemo{slug}", "auth_token": f"demo-{slug}-twilio-token"},
        "whatsapp": {
            "phone_number_id": f"10{slug_digits(slug)}00000",  # Meta's ids are long numbers
            "app_secret": f"demo-{slug}-meta-app-secret",
            "verify_token": f"demo-{slug}-verify",
        },
        "sendgrid": {"public_key": DEMO_SENDGRID_PUBLIC_KEY},
        "mailgun": {"signing_key": f"demo-{slug}-mailgun-key"},
    }


def slug_digits(slug: str) -> str:
    """A stable number from the slug (Python's hash() changes between runs)."""
    return f"{sum(ord(c) * (i + 1) for i, c in enumerate(slug)) % 100000:05d}"


def seed(firm, rng) -> None:
    for provider, credentials in demo_credentials(firm.slug).items():
        if not ChannelAccount.objects.filter(provider=provider, is_active=True).exists():
            services.channel_account_create(
                provider=provider, name=f"{firm.name} ({provider}, demo)", credentials=credentials
            )

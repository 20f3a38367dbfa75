from django.apps import AppConfig


class CrmConfig(AppConfig):
    """Core CRM records: clients, contacts, organizations, leads and cases."""

    name = "traf3li.crm"
    label = "crm"

    def ready(self):
        from traf3li.core.subjects import subject_register

        for type_name, label in {
            "client": "crm.Client",
            "contact": "crm.Contact",
            "lead": "crm.Lead",
            "case": "crm.Case",
            "organization": "crm.Organization",
        }.items():
            subject_register(type_name, label)
        # Audited, but not something a timeline or an activity is about.
        subject_register("user", "users.User", public=False)
        subject_register("firm", "firms.Firm", public=False)

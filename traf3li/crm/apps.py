from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    """Core CRM records: clients, contacts, organizations, leads and cases."""

    name = "traf3li.crm"
    label = "crm"
    verbose_name = _("Clients and cases")

    def ready(self):
        from traf3li.core.registries import (
            case_of_register,
            hierarchy_register,
            legal_hold_clients_register,
            legal_hold_register,
        )
        from traf3li.core.subjects import SubjectRef, subject_register
        from traf3li.crm.selectors import case_held_ids, client_held_ids

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
        # A contact's and a case's entries also show on their client's 360° view.
        hierarchy_register("contact", lambda contact: [SubjectRef("client", contact.client_id)])
        hierarchy_register("case", lambda case: [SubjectRef("client", case.client_id)])
        # A case is its own case: its events and its entries' events carry its id.
        case_of_register("case", lambda ref, case: ref.id)
        legal_hold_register(case_held_ids)
        legal_hold_clients_register(client_held_ids)
        from traf3li.crm import privacy

        privacy.register()  # the privacy data map: where these records keep personal data

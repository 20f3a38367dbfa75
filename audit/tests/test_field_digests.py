"""An erasure takes only the fields it blanks out of verification (ADR 0063)."""

import json

import pytest

from audit import chain
from audit.models import AuditChainHead, AuditEvent
from audit.selectors import REASON_PAYLOAD, chain_verify
from audit.services import REDACTED, audit_erase
from audit.tests.test_chain import event_of, tamper
from traf3li.crm import services as crm_services
from traf3li.crm.models import Organization

NAME = json.dumps(["changes", "after", "name"], separators=(",", ":"))
WEBSITE = json.dumps(["changes", "after", "website"], separators=(",", ":"))


def erased_organization() -> tuple[Organization, AuditEvent]:
    org = crm_services.record_create(instance=Organization(name="Marker Holdings", website="https://kept.example"))
    audit_erase(subject=f"organization:{org.pk}", fields={"name"})
    return org, event_of(org)


@pytest.mark.django_db
def test_new_events_carry_per_field_digests(in_firm_a):
    org = crm_services.record_create(instance=Organization(name="Fresh Co"))
    event = event_of(org)
    assert event.digest_version == chain.DIGEST_V2 and event.payload_proof is None
    assert chain.event_payload_ok(event) is True
    assert chain_verify().ok


@pytest.mark.django_db
def test_an_erasure_blanks_one_field_and_keeps_the_others_checked(in_firm_a):
    # given an organisation whose name was erased from the log, its website kept
    _, event = erased_organization()
    assert event.changes["after"]["name"] == REDACTED
    assert event.changes["after"]["website"] == "https://kept.example"
    assert chain_verify().ok
    # the event's salt is gone; the erased field is kept as its digest, the kept one by its own salt
    assert event.payload_salt == "" and event.erased_at is not None
    assert NAME in event.payload_proof["digests"] and NAME not in event.payload_proof["salts"]
    assert WEBSITE in event.payload_proof["salts"] and WEBSITE not in event.payload_proof["digests"]
    # when a superuser rewrites the field the erasure did not touch
    tamper(
        "UPDATE audit_auditevent SET changes = jsonb_set(changes, '{after,website}', '\"https://forged.example\"') "
        "WHERE id = %s",
        [event.pk],
    )
    # then verify still catches it (with a whole-payload digest, the erasure had made it uncheckable)
    result = chain_verify()
    assert (result.ok, result.event_id, result.reason) == (False, event.pk, REASON_PAYLOAD)


@pytest.mark.django_db
def test_an_erased_field_may_hold_nothing_but_the_blank(in_firm_a):
    _, event = erased_organization()
    tamper(
        "UPDATE audit_auditevent SET changes = jsonb_set(changes, '{after,name}', '\"Someone Else\"') WHERE id = %s",
        [event.pk],
    )
    result = chain_verify()
    assert (result.ok, result.event_id, result.reason) == (False, event.pk, REASON_PAYLOAD)


@pytest.mark.django_db
def test_a_field_added_after_the_erasure_is_caught(in_firm_a):
    _, event = erased_organization()
    tamper(
        "UPDATE audit_auditevent SET changes = jsonb_set(changes, '{after,note}', '\"added\"') WHERE id = %s",
        [event.pk],
    )
    result = chain_verify()
    assert (result.ok, result.event_id, result.reason) == (False, event.pk, REASON_PAYLOAD)


@pytest.mark.django_db
def test_a_second_erasure_of_the_same_event_keeps_the_first_ones_proof(in_firm_a):
    org, event = erased_organization()
    audit_erase(subject=f"organization:{org.pk}", fields={"website"})
    event.refresh_from_db()
    assert event.changes["after"]["website"] == REDACTED
    assert {NAME, WEBSITE} <= set(event.payload_proof["digests"])
    assert chain_verify().ok


@pytest.mark.django_db
def test_an_event_of_the_old_format_still_verifies_and_erases(in_firm_a):
    # given the newest event rewritten as a version-1 event (one digest of the whole payload), as
    # events written before per-field digests are, its hash and the head relinked to match
    org = crm_services.record_create(instance=Organization(name="Old Format Ltd", website="https://old.example"))
    event = event_of(org)
    payload = chain.event_payload(event)
    event.payload_digest, event.digest_version = chain.payload_digest(event.payload_salt, payload), chain.DIGEST_V1
    new_hash = chain.event_link_hash(event)
    tamper(
        "UPDATE audit_auditevent SET digest_version = 1, payload_digest = %s, hash = %s WHERE id = %s",
        [event.payload_digest, new_hash, event.pk],
    )
    tamper("UPDATE audit_auditchainhead SET hash = %s WHERE id = 1", [new_hash])
    assert AuditChainHead.objects.get().hash == new_hash
    assert chain_verify().ok
    # when it is erased, then it is blanked and the chain still verifies (its payload unchecked)
    audit_erase(subject=f"organization:{org.pk}")
    event.refresh_from_db()
    assert event.payload_salt == "" and event.payload_proof is None and event.changes["after"]["name"] == REDACTED
    assert chain.event_payload_ok(event) is None
    assert chain_verify().ok

# Links the events written before the chain existed, creates the chain head, makes the chain
# columns required and installs the append-only triggers. Tenant migrations run once per firm
# schema, so every firm gets its own chain, head and triggers (ADR 0004).

import secrets

from django.db import migrations, models

# The chain's serialisation is frozen (changing it would fail every existing chain), so the
# migration can use the live module.
from audit import chain

# One statement per element: Citus forwards each statement's text to the workers as it is, and
# refuses several commands in one.
EVENT_GUARD_SQL = """
CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bypass text := coalesce(current_setting('traf3li.audit_bypass', true), '');
BEGIN
    -- The retention purge (audit_purge) may delete; it records anchors and a purge event.
    IF TG_OP = 'DELETE' AND bypass = 'purge' THEN
        RETURN OLD;
    END IF;
    -- GDPR erasure (audit_erase) may blank the personal columns of an event it marks erased;
    -- everything the hash covers directly must stay as it was.
    IF TG_OP = 'UPDATE' AND bypass = 'erase' THEN
        IF NEW.erased_at IS NOT NULL AND
           (NEW.id, NEW.seq, NEW.occurred_at, NEW.actor_type, NEW.actor_id, NEW.actor_role, NEW.action,
            NEW.entity_type, NEW.entity_id, NEW.case_id, NEW.source, NEW.request_id, NEW.payload_digest,
            NEW.prev_hash, NEW.hash)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.seq, OLD.occurred_at, OLD.actor_type, OLD.actor_id, OLD.actor_role, OLD.action,
            OLD.entity_type, OLD.entity_id, OLD.case_id, OLD.source, OLD.request_id, OLD.payload_digest,
            OLD.prev_hash, OLD.hash)
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Only audit_purge() and audit_erase() may change the audit log.';
END
$$
"""

HEAD_GUARD_SQL = """
CREATE OR REPLACE FUNCTION audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.id = OLD.id AND NEW.seq = OLD.seq + 1 AND NEW.prev_hash = OLD.hash THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'the audit chain head only moves forward, one event at a time'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RAISE EXCEPTION 'audit chain records are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""

# Row triggers never see TRUNCATE (pgtrigger.Protect can't block it): a statement trigger can.
TRIGGERS = [
    ("audit_event_append_only", "BEFORE UPDATE OR DELETE", "audit_auditevent", "ROW", "audit_event_guard"),
    ("audit_event_no_truncate", "BEFORE TRUNCATE", "audit_auditevent", "STATEMENT", "audit_event_guard"),
    ("audit_head_forward_only", "BEFORE UPDATE OR DELETE", "audit_auditchainhead", "ROW", "audit_head_guard"),
    ("audit_head_no_truncate", "BEFORE TRUNCATE", "audit_auditchainhead", "STATEMENT", "audit_head_guard"),
    ("audit_anchor_append_only", "BEFORE UPDATE OR DELETE", "audit_auditchainanchor", "ROW", "audit_head_guard"),
    ("audit_anchor_no_truncate", "BEFORE TRUNCATE", "audit_auditchainanchor", "STATEMENT", "audit_head_guard"),
]

GUARD_SQL = [
    EVENT_GUARD_SQL,
    HEAD_GUARD_SQL,
    *(
        f"CREATE TRIGGER {name} {when} ON {table} FOR EACH {level} EXECUTE FUNCTION {function}()"
        for name, when, table, level, function in TRIGGERS
    ),
]

UNGUARD_SQL = [
    *(f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, _, table, _, _ in reversed(TRIGGERS)),
    "DROP FUNCTION IF EXISTS audit_head_guard()",
    "DROP FUNCTION IF EXISTS audit_event_guard()",
]


def link_existing_events(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditChainHead = apps.get_model("audit", "AuditChainHead")
    db = schema_editor.connection.alias  # the owner's connection when a firm is created (ADR 0062)
    prev_hash, seq, last_at, batch = chain.GENESIS_HASH, 0, None, []
    fields = ["seq", "prev_hash", "hash", "payload_salt", "payload_digest", "actor_type", "source", "occurred_at"]
    for event in AuditEvent.objects.using(db).order_by("occurred_at", "id").iterator(chunk_size=2000):
        seq += 1
        event.actor_type = "user" if event.actor_id is not None else "system"
        event.source = (event.metadata or {}).get("source") or "system"
        event.payload_salt = secrets.token_hex(16)
        event.payload_digest = chain.event_payload_digest(event)
        event.seq, event.prev_hash = seq, prev_hash
        event.hash = chain.link_hash(
            prev_hash=prev_hash, seq=seq, occurred_at=event.occurred_at, body_digest=chain.event_body_digest(event)
        )
        prev_hash, last_at = event.hash, event.occurred_at
        batch.append(event)
        if len(batch) >= 2000:
            AuditEvent.objects.using(db).bulk_update(batch, fields)
            batch = []
    if batch:
        AuditEvent.objects.using(db).bulk_update(batch, fields)
    previous = AuditEvent.objects.using(db).filter(seq=seq - 1).values_list("hash", flat=True).first() or chain.GENESIS_HASH
    AuditChainHead.objects.using(db).create(id=1, seq=seq, prev_hash=previous, hash=prev_hash, occurred_at=last_at)


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0002_chain_columns'),
    ]

    operations = [
        migrations.RunPython(link_existing_events, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='auditevent',
            name='seq',
            field=models.BigIntegerField(unique=True),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='payload_digest',
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='prev_hash',
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='hash',
            field=models.CharField(max_length=64),
        ),
        migrations.RunSQL(GUARD_SQL, UNGUARD_SQL),
    ]

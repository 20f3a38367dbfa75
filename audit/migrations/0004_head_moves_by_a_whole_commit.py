# The chain head moves once per transaction now (ADR 0030), by as many events as it committed.
# One statement per RunSQL, so the migration also runs where statements are forwarded one by
# one (Citus).

from django.db import migrations

HEAD_GUARD = """
CREATE OR REPLACE FUNCTION audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'audit_auditchainhead' THEN
        -- Forward only, and onto an event already inserted with exactly these links; a move by
        -- one event must also link to the old head. Verify checks the whole chain.
        IF NEW.id = OLD.id AND NEW.seq > OLD.seq
           AND (NEW.seq > OLD.seq + 1 OR NEW.prev_hash = OLD.hash)
           AND EXISTS (SELECT 1 FROM audit_auditevent e
                        WHERE e.seq = NEW.seq AND e.hash = NEW.hash AND e.prev_hash = NEW.prev_hash) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'the audit chain head only moves forward'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RAISE EXCEPTION 'audit chain records are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""

OLD_HEAD_GUARD = """
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


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0003_chain_and_append_only'),
    ]

    operations = [
        migrations.RunSQL(HEAD_GUARD, OLD_HEAD_GUARD),
    ]

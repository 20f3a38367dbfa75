# The audit log holds against the product's own database role (ADR 0062), and an erasure blanks
# only the fields it erases from verification (ADR 0063).
#
# - The product's role (traf3li_app) may read and append: SELECT and INSERT on the events, UPDATE
#   on the chain head (its trigger lets it move forward only), SELECT on the anchors. It can't
#   UPDATE, DELETE or TRUNCATE an event, nor write an anchor.
# - Purge and erase are SECURITY DEFINER functions owned by traf3li_audit, a role that never logs
#   in: the only role the triggers let delete or rewrite an event (the owner included: the
#   triggers refuse every other role, superusers as well, short of disabling them).
# - The old bypass (a setting any connection could set) is gone.
# Tenant migrations run once per firm schema, so every firm gets its grants and its functions,
# each bound to its own schema (search_path fixed in the function).

from django.db import migrations, models

from traf3li.core.db import APP_ROLE, AUDIT_ROLE, roles_ensure, schema_grant

EVENT_GUARD_SQL = f"""
CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_user = '{AUDIT_ROLE}' THEN
        -- audit_purge_events(): the retention purge, which leaves anchors and a purge event.
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        -- audit_erase_events(): blanks the personal columns of an event it marks erased;
        -- everything the hash covers directly must stay as it was.
        IF TG_OP = 'UPDATE' AND NEW.erased_at IS NOT NULL AND
           (NEW.id, NEW.seq, NEW.occurred_at, NEW.actor_type, NEW.actor_id, NEW.actor_role, NEW.action,
            NEW.entity_type, NEW.entity_id, NEW.case_id, NEW.source, NEW.request_id, NEW.payload_digest,
            NEW.prev_hash, NEW.hash, NEW.digest_version)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.seq, OLD.occurred_at, OLD.actor_type, OLD.actor_id, OLD.actor_role, OLD.action,
            OLD.entity_type, OLD.entity_id, OLD.case_id, OLD.source, OLD.request_id, OLD.payload_digest,
            OLD.prev_hash, OLD.hash, OLD.digest_version)
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Only audit_purge_events() and audit_erase_events() may change the audit log.';
END
$$
"""

# The events the purge deletes (never an erase or purge record), and an anchor for the last event
# of each deleted run, so the first event after the gap still links. The caller records the purge
# as an event listing these anchors: verify honours no anchor that such an event does not vouch for.
PURGE_SQL = """
CREATE OR REPLACE FUNCTION audit_purge_events(doomed bigint[])
RETURNS TABLE (deleted bigint, anchors json)
LANGUAGE sql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    WITH d AS MATERIALIZED (
        SELECT id, seq, hash FROM audit_auditevent
         WHERE id = ANY (doomed) AND action NOT IN ('erase', 'purge')
    ), a AS (
        INSERT INTO audit_auditchainanchor (seq, hash, purged_at)
        SELECT d.seq, d.hash, clock_timestamp() FROM d
         WHERE NOT EXISTS (SELECT 1 FROM d n WHERE n.seq = d.seq + 1)
        ON CONFLICT (seq) DO NOTHING
        RETURNING seq, hash
    ), g AS (
        DELETE FROM audit_auditevent e USING d WHERE e.id = d.id RETURNING 1
    )
    SELECT (SELECT count(*) FROM g),
           (SELECT coalesce(json_agg(json_build_array(seq, hash) ORDER BY seq), '[]'::json) FROM a)
$$
"""

# Only the personal columns and the erasure's own columns change; the trigger checks the rest.
ERASE_SQL = """
CREATE OR REPLACE FUNCTION audit_erase_events(redacted jsonb) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    WITH r AS (
        SELECT * FROM jsonb_to_recordset(redacted) AS r (
            id bigint, actor_name varchar, actor_email varchar, entity_name varchar,
            changes jsonb, metadata jsonb, payload_salt varchar, payload_proof jsonb
        )
    ), u AS (
        UPDATE audit_auditevent e
           SET actor_name = r.actor_name, actor_email = r.actor_email, entity_name = r.entity_name,
               changes = r.changes, metadata = r.metadata, payload_salt = r.payload_salt,
               payload_proof = r.payload_proof, erased_at = coalesce(e.erased_at, clock_timestamp())
          FROM r
         WHERE e.id = r.id AND e.action NOT IN ('erase', 'purge')
        RETURNING 1
    )
    SELECT count(*) FROM u
$$
"""

FUNCTIONS = ("audit_purge_events(bigint[])", "audit_erase_events(jsonb)")


def seal(apps, schema_editor):
    connection = schema_editor.connection
    schema = connection.schema_name
    quoted = '"' + schema.replace('"', '""') + '"'
    with connection.cursor() as cursor:
        roles_ensure(cursor)
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            # Handing the functions to the audit role needs membership in it (CREATEROLE grants it).
            cursor.execute(f"GRANT {AUDIT_ROLE} TO CURRENT_USER")
        schema_grant(cursor, schema)
        for statement in (
            EVENT_GUARD_SQL,
            PURGE_SQL.format(schema=quoted),
            ERASE_SQL.format(schema=quoted),
            f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_auditevent FROM {APP_ROLE}",
            f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_auditchainanchor FROM {APP_ROLE}",
            f"REVOKE DELETE, TRUNCATE ON audit_auditchainhead FROM {APP_ROLE}",
            f"GRANT SELECT, UPDATE, DELETE ON audit_auditevent TO {AUDIT_ROLE}",
            f"GRANT SELECT, INSERT ON audit_auditchainanchor TO {AUDIT_ROLE}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quoted} TO {AUDIT_ROLE}",
            *(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC" for function in FUNCTIONS),
            *(f"GRANT EXECUTE ON FUNCTION {function} TO {APP_ROLE}" for function in FUNCTIONS),
            *(f"ALTER FUNCTION {function} OWNER TO {AUDIT_ROLE}" for function in FUNCTIONS),
        ):
            cursor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0007_verify_checkpoint'),
    ]

    operations = [
        # Existing events keep their whole-payload digest (version 1); new ones are written as 2.
        migrations.AddField(
            model_name='auditevent',
            name='digest_version',
            field=models.PositiveSmallIntegerField(default=1, verbose_name='digest version'),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='digest_version',
            field=models.PositiveSmallIntegerField(default=2, verbose_name='digest version'),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='payload_proof',
            field=models.JSONField(blank=True, null=True, verbose_name='erasure proof'),
        ),
        migrations.RunPython(seal, migrations.RunPython.noop, elidable=False),
    ]

"""The activity-id sequence and the stored full-text column, both per firm schema (ADR 0010, 0011).

The search document is title + description + the payload's text fields (``schemas.searchable_keys``
when this migration was written), normalised for Arabic before English stemming. Changing the key
list or the normalisation needs a new migration that replaces the functions and recomputes the
column (``UPDATE timeline_entry SET title = title``).
"""

from django.db import migrations

from traf3li.core.citus import set_column_statistics

SEARCH_KEYS = [
    "activity_type",
    "agenda",
    "assignee",
    "body",
    "case_number",
    "court",
    "event_id",
    "feedback",
    "file_name",
    "from",
    "invoice_number",
    "lawyer",
    "location",
    "next_steps",
    "outcome",
    "reference",
    "subject",
    "summary",
    "tags",
    "to",
    "transcription",
]

# Arabic: one alef, taa marbuta -> haa, alef maqsura -> yaa, no diacritics or tatweel, and the
# definite article (with a leading wa/bi/ka/fa, or li+al) stripped when two letters remain.
NORMALIZE = r"""regexp_replace(
    regexp_replace(translate(lower({text}), 'أإآٱىة', 'اااايه'), '[\u064B-\u065F\u0670\u0640]', '', 'g'),
    '(^|[^\u0621-\u064A])(و?[بكف]?ال|و?لل)(?=[\u0621-\u064A]{{2}})', '\1', 'g')"""

PAYLOAD_TEXT = (
    "coalesce((SELECT string_agg(value, ' ') FROM jsonb_each_text(payload) WHERE key = ANY('{{{keys}}}'::text[])), '')"
).format(keys=",".join(SEARCH_KEYS))

# One statement per element: Citus forwards each statement's text to the workers as it is, and
# refuses several commands in one.
FORWARD = [
    "CREATE SEQUENCE IF NOT EXISTS timeline_activity_seq",
    f"""
CREATE OR REPLACE FUNCTION timeline_normalize(body text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT {NORMALIZE.format(text="body")} $$
""",
    f"""
CREATE OR REPLACE FUNCTION timeline_tsquery(q text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT websearch_to_tsquery('english'::regconfig, {NORMALIZE.format(text="q")})
$$
""",
    # Only built-in functions in the body: SQL function bodies resolve names by the caller's search_path.
    f"""
CREATE OR REPLACE FUNCTION timeline_search_document(title text, description text, payload jsonb) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT to_tsvector('english'::regconfig, {
        NORMALIZE.format(text="coalesce(title, '') || ' ' || coalesce(description, '') || ' ' || " + PAYLOAD_TEXT)
    })
$$
""",
    """
ALTER TABLE timeline_entry ADD COLUMN search tsvector
  GENERATED ALWAYS AS (timeline_search_document(title, description, payload)) STORED
""",
    "CREATE INDEX timeline_entry_search_idx ON timeline_entry USING gin (search) WHERE deleted_at IS NULL",
]

BACKWARD = [
    "DROP INDEX IF EXISTS timeline_entry_search_idx",
    "ALTER TABLE timeline_entry DROP COLUMN IF EXISTS search",
    "DROP FUNCTION IF EXISTS timeline_search_document(text, text, jsonb)",
    "DROP FUNCTION IF EXISTS timeline_tsquery(text)",
    "DROP FUNCTION IF EXISTS timeline_normalize(text)",
    "DROP SEQUENCE IF EXISTS timeline_activity_seq",
]


def search_statistics(apps, schema_editor):
    # A rare word must look rare to the planner, or it walks the time index filtering half the
    # table (docs/performance.md): keep many more most-common-element statistics than the default.
    # On Citus the target goes to the shard, where the worker plans (traf3li.core.citus).
    with schema_editor.connection.cursor() as cursor:
        set_column_statistics(cursor, "timeline_entry", "search", 1000)


class Migration(migrations.Migration):
    dependencies = [("timeline", "0001_initial")]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RunPython(search_statistics, migrations.RunPython.noop),
    ]

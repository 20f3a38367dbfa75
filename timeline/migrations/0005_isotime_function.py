from django.db import migrations

# ISO-8601 in a given timezone, with its offset at that instant ("2026-11-29T05:44:04.361028+03:00"),
# so pages PostgreSQL builds show the firm's time like every other endpoint.
CREATE = r"""
CREATE OR REPLACE FUNCTION timeline_isotime(ts timestamptz, tz text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT to_char(ts AT TIME ZONE tz, 'YYYY-MM-DD"T"HH24:MI:SS')
         -- like Python's isoformat(): microseconds only when there are some
         || CASE WHEN extract(microseconds FROM ts)::int % 1000000 = 0 THEN ''
                 ELSE to_char(ts AT TIME ZONE tz, '.US') END
         || CASE WHEN o.off < 0 THEN '-' ELSE '+' END
         || to_char(make_interval(secs => abs(o.off)), 'HH24:MI')
    FROM (SELECT extract(epoch FROM (ts AT TIME ZONE tz) - (ts AT TIME ZONE 'UTC')) AS off) AS o
$$;
"""
DROP = "DROP FUNCTION IF EXISTS timeline_isotime(timestamptz, text);"


class Migration(migrations.Migration):
    dependencies = [("timeline", "0004_stat_rollup_key_covers_counts")]
    operations = [migrations.RunSQL(CREATE, DROP)]

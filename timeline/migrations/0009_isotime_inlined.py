from importlib import import_module

from django.db import migrations

# The same text as 0005's, from a body PostgreSQL can inline into the calling query: one SELECT of
# one expression, no FROM. 0005's subquery made every call a separate SQL-function execution,
# two per row of every page: 70 % of a 360° page's execution time (docs/benchmarks.md).
CREATE = r"""
CREATE OR REPLACE FUNCTION timeline_isotime(ts timestamptz, tz text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT to_char(ts AT TIME ZONE tz, 'YYYY-MM-DD"T"HH24:MI:SS')
         -- like Python's isoformat(): microseconds only when there are some
         || CASE WHEN extract(microseconds FROM ts)::int % 1000000 = 0 THEN ''
                 ELSE to_char(ts AT TIME ZONE tz, '.US') END
         -- the offset at that instant: local wall time minus UTC wall time
         || CASE WHEN (ts AT TIME ZONE tz) < (ts AT TIME ZONE 'UTC')
                 THEN '-' || to_char((ts AT TIME ZONE 'UTC') - (ts AT TIME ZONE tz), 'HH24:MI')
                 ELSE '+' || to_char((ts AT TIME ZONE tz) - (ts AT TIME ZONE 'UTC'), 'HH24:MI') END
$$;
"""
# Reversed, the body 0005 made.
PREVIOUS = import_module("timeline.migrations.0005_isotime_function").CREATE


class Migration(migrations.Migration):
    dependencies = [("timeline", "0008_verbose_names")]
    operations = [migrations.RunSQL(CREATE, PREVIOUS)]

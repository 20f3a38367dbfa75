from django.db import migrations

# Each firm schema gets its one settings row and its chain head at once, so that approvals lock an
# existing head row instead of racing to create it.
SQL = [
    "INSERT INTO billing_billingsettings (singleton, vat_rate, payment_terms, updated_at) "
    "VALUES (true, 15.00, 'net_30', now()) ON CONFLICT (singleton) DO NOTHING",
    "INSERT INTO billing_zatcachainhead (singleton, icv, last_hash) VALUES (true, 0, '') ON CONFLICT (singleton) DO NOTHING",
]


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunSQL(sql, migrations.RunSQL.noop) for sql in SQL]

from django.db import migrations

# The delivery queue and the messages take an UPDATE per delivery and per status: at webhook rates
# their dead tuples outgrew autovacuum's defaults (20 % of the table) within minutes, and the owed
# deliveries' partial index was scanning 240,000 dead entries to find none. Vacuum them at 1 %.
QUEUE_TABLES = ("messaging_webhookdelivery", "messaging_message")
SETTINGS = "autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000, autovacuum_analyze_scale_factor = 0.02"
RESET = "autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_analyze_scale_factor"


class Migration(migrations.Migration):
    dependencies = [("messaging", "0006_email_inbox_index")]

    operations = [
        migrations.RunSQL(f"ALTER TABLE {table} SET ({SETTINGS})", f"ALTER TABLE {table} RESET ({RESET})")
        for table in QUEUE_TABLES
    ]

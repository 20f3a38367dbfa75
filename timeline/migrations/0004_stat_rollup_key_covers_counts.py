from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("timeline", "0003_stat_rollups_by_day_and_month")]

    operations = [
        migrations.RemoveConstraint(model_name="statrollup", name="timeline_statrollup_key"),
        migrations.AddConstraint(
            model_name="statrollup",
            constraint=models.UniqueConstraint(
                fields=("span", "performer_id", "day", "kind", "subject_type"),
                include=("count", "duration_count", "duration_seconds"),
                name="timeline_statrollup_key",
            ),
        ),
    ]

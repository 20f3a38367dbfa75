from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("timeline", "0002_search_and_activity_sequence")]

    operations = [
        migrations.DeleteModel(name="DailyStat"),
        migrations.CreateModel(
            name="StatRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("span", models.CharField(choices=[("d", "Day"), ("m", "Month")], max_length=1)),
                ("day", models.DateField()),
                ("performer_id", models.BigIntegerField()),
                ("kind", models.CharField(max_length=24)),
                ("subject_type", models.CharField(max_length=32)),
                ("count", models.IntegerField(default=0)),
                ("duration_count", models.IntegerField(default=0)),
                ("duration_seconds", models.BigIntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("span", "performer_id", "day", "kind", "subject_type"), name="timeline_statrollup_key"
                    )
                ],
            },
        ),
    ]

# The hash chain's columns and tables. The chain columns start nullable; 0003 fills them for
# events written before the chain existed, then makes them required.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditChainAnchor',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('seq', models.BigIntegerField(unique=True)),
                ('hash', models.CharField(max_length=64)),
                ('purged_at', models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name='AuditChainHead',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('seq', models.BigIntegerField(default=0)),
                ('prev_hash', models.CharField(max_length=64)),
                ('hash', models.CharField(max_length=64)),
                ('occurred_at', models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.CreateModel(
            name='AuditStateSnapshot',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('entity_type', models.CharField(max_length=32)),
                ('entity_id', models.BigIntegerField()),
                ('event_id', models.BigIntegerField()),
                ('occurred_at', models.DateTimeField()),
                ('state', models.JSONField(default=dict)),
                ('deleted', models.BooleanField(default=False)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('entity_type', 'entity_id', 'event_id'), name='audit_snapshot_unique')],
                'indexes': [models.Index(fields=['entity_type', 'entity_id', 'occurred_at', 'event_id'], name='audit_snapshot_time_idx')],
            },
        ),
        migrations.RemoveIndex(
            model_name='auditevent',
            name='audit_entity_idx',
        ),
        migrations.AddField(
            model_name='auditevent',
            name='actor_type',
            field=models.CharField(choices=[('user', 'A user of the firm'), ('system', 'The system (a task, a webhook, a command without a user)'), ('platform', 'An operator of the platform (public admin)')], default='system', max_length=16),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='source',
            field=models.CharField(choices=[('api', 'API'), ('admin', 'Admin'), ('webhook', 'Webhook'), ('task', 'Task'), ('command', 'Command'), ('system', 'System')], default='system', max_length=16),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='erased_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='payload_salt',
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='payload_digest',
            field=models.CharField(max_length=64, null=True),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='prev_hash',
            field=models.CharField(max_length=64, null=True),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='hash',
            field=models.CharField(max_length=64, null=True),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='seq',
            field=models.BigIntegerField(null=True),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='case_id',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='occurred_at',
            field=models.DateTimeField(),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['occurred_at', 'id'], name='audit_time_idx'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['entity_type', 'entity_id', 'occurred_at', 'id'], name='audit_entity_time_idx'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(condition=models.Q(('case_id__isnull', False)), fields=['case_id', 'occurred_at', 'id'], name='audit_case_time_idx'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['action', 'occurred_at', 'id'], name='audit_action_time_idx'),
        ),
    ]

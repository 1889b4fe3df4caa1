from django.db import migrations, models
from django.db.models import F


def alerts_keep_their_language(apps, schema_editor):
    """Until now one setting served both: each user's alerts stay in the language they came in."""
    apps.get_model("companies", "User").objects.update(alert_language=F("language"))


class Migration(migrations.Migration):
    dependencies = [
        ("companies", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="alert_language",
            field=models.CharField(
                choices=[("sv", "Svenska"), ("en", "Engelska")],
                default="sv",
                max_length=2,
                verbose_name="språk för aviseringar",
            ),
        ),
        migrations.RunPython(alerts_keep_their_language, migrations.RunPython.noop),
    ]

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("demo", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="hit",
            name="nonce",
            field=models.CharField(default="", max_length=32),
        ),
    ]

from django.db import migrations, models


def seed(apps, schema_editor):
    # Data written by a migration: serialized_rollback must restore it.
    apps.get_model("shop", "Item").objects.using(schema_editor.connection.alias).create(
        name="seeded"
    )


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Item",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=50, unique=True)),
            ],
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]

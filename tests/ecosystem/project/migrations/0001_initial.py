from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [
        migrations.CreateModel(
            name="Product",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=40, unique=True)),
                ("price_cents", models.IntegerField()),
            ],
        ),
        migrations.CreateModel(
            name="Order",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False, verbose_name="ID")),
                ("quantity", models.IntegerField()),
                ("tag", models.CharField(db_index=True, max_length=40)),
                (
                    "product",
                    models.ForeignKey(on_delete=models.deletion.CASCADE, to="ecosystem.product"),
                ),
            ],
        ),
    ]

from django.db import models


class Row(models.Model):
    """``storm_row``, created and filled by run.py (no migrations to run per configuration)."""

    value = models.IntegerField()

    class Meta:
        managed = False
        db_table = "storm_row"

from django.db import models


class Row(models.Model):
    """``storm_row``, created and filled by bench/storm/db.py (no migrations to run)."""

    value = models.IntegerField()

    class Meta:
        managed = False
        db_table = "storm_row"

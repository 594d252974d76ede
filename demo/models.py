from django.db import models


class Hit(models.Model):
    """One row per request that reached the database; the demo counts them."""

    view = models.CharField(max_length=8)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.view} at {self.created:%H:%M:%S.%f}"

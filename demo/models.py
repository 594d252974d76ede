from django.db import models


class Hit(models.Model):
    """One row per request that reached the database.

    ``nonce`` is the client's, sent with the request: the view reads it back
    from the row its INSERT created and returns it, so the client can tell an
    answer that came from someone else's query.
    """

    view = models.CharField(max_length=8)
    nonce = models.CharField(max_length=32, default="")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.view} {self.nonce} at {self.created:%H:%M:%S.%f}"

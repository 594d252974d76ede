from django.db import models


class Hit(models.Model):
    view = models.CharField(max_length=8)

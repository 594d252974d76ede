from django.apps import AppConfig


class EcosystemConfig(AppConfig):
    name = "tests.ecosystem.project"
    label = "ecosystem"
    default_auto_field = "django.db.models.AutoField"

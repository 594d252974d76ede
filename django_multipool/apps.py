from django.apps import AppConfig


class MultipoolConfig(AppConfig):
    name = "django_multipool"
    verbose_name = "django-multipool"

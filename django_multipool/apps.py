from django.apps import AppConfig


class MultipoolConfig(AppConfig):
    name = "django_multipool"
    verbose_name = "django-multipool"

    def ready(self) -> None:
        from django.core import checks
        from django.core.signals import request_started

        from .checks import FIRST_REQUEST_UID, TAG, check_databases, warn_on_first_asgi_request

        checks.register(check_databases, TAG)
        # Once per process: the receiver disconnects itself at the first request.
        request_started.connect(warn_on_first_asgi_request, dispatch_uid=FIRST_REQUEST_UID)

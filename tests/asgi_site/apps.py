from django.apps import AppConfig


class AsgiSiteConfig(AppConfig):
    name = "tests.asgi_site"
    label = "asgi_site"

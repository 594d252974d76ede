from django.conf import settings
from django.urls import include, path

from . import views

urlpatterns = [
    path("catalogue/", views.catalogue),
    path("async-catalogue/", views.async_catalogue),
]

if "debug_toolbar" in settings.TOOLS:
    from debug_toolbar.toolbar import debug_toolbar_urls

    urlpatterns += debug_toolbar_urls()

if "silk" in settings.TOOLS:
    urlpatterns.append(path("silk/", include("silk.urls", namespace="silk")))

from django.urls import path

from . import views

urlpatterns = [
    path("a/", views.sync_view),
    path("b/", views.async_view),
    path("c/", views.twenty_queries_view),
    path("ready/", views.ready),
]

try:
    from .drf_views import drf_list_view
except ImportError:  # djangorestframework (the bench group) is not installed
    pass
else:
    urlpatterns.append(path("d/", drf_list_view))

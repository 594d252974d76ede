from django.urls import path

from . import views

urlpatterns = [
    path("a/", views.sync_view),
    path("b/", views.async_view),
    path("c/", views.twenty_queries_view),
    path("ready/", views.ready),
]

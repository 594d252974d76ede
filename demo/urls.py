from django.urls import path

from demo import views

urlpatterns = [
    path("sync/", views.sync_hit),
    path("async/", views.async_hit),
    path("stats/", views.stats),
]

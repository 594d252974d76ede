from debug_toolbar.toolbar import debug_toolbar_urls
from django.urls import path

from . import views

urlpatterns = [path("", views.page), path("async/", views.async_page), *debug_toolbar_urls()]

"""Minimal settings for mypy's django-stubs plugin (no database is opened)."""

SECRET_KEY = "typecheck-only"
INSTALLED_APPS = ["django_multipool"]
DATABASES: dict[str, dict[str, str]] = {}

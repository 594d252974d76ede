"""The ecosystem tests' site: settings, URLs, views and the shop models.

One package is both the Django project and its only app (``ecosystem``),
like tests/asgi_site. Which third-party tools it installs comes from the
``MULTIPOOL_ECOSYSTEM`` environment variable (see settings.py), so one
process runs one tool's scenario (tests/ecosystem/scenario.py).
"""

"""Settings of the installed-wheel smoke test, chosen by environment variables.

- ``MULTIPOOL_SMOKE_VENDOR``: ``postgresql``, ``mysql`` or ``oracle``;
- ``MULTIPOOL_<VENDOR>_DSN``: the server, when the run should reach one;
  without it the alias points at a placeholder host, which ``manage.py
  check`` never connects to;
- ``MULTIPOOL_SMOKE_POOL``: the ``OPTIONS["pool"]`` dict as JSON (a bad one
  shows that the installed app's checks run);
- ``MULTIPOOL_SMOKE_MODELS=1``: install ``django.contrib.auth`` and
  ``contenttypes`` too, whose fields the vendor's checks inspect (on MySQL
  that asks the server whether it is MariaDB, as Django's own backend does).
"""

from __future__ import annotations

import json
import os
from urllib.parse import unquote, urlsplit

SECRET_KEY = "smoke-test-only"
USE_TZ = True
INSTALLED_APPS = ["django_multipool"]
if os.environ.get("MULTIPOOL_SMOKE_MODELS") == "1":
    INSTALLED_APPS += ["django.contrib.contenttypes", "django.contrib.auth"]

VENDOR = os.environ["MULTIPOOL_SMOKE_VENDOR"]
PLACEHOLDER_DSN = {
    "postgresql": "postgresql://smoke@db.invalid:5432/smoke",
    "mysql": "mysql://smoke@db.invalid:3306/smoke",
    "oracle": "oracle://smoke@db.invalid:1521/FREEPDB1",
}[VENDOR]
dsn = urlsplit(os.environ.get(f"MULTIPOOL_{VENDOR.upper()}_DSN") or PLACEHOLDER_DSN)
database = dsn.path.lstrip("/")
entry = {
    "ENGINE": f"django_multipool.backends.{VENDOR}",
    "NAME": database,
    "USER": unquote(dsn.username or ""),
    "PASSWORD": unquote(dsn.password or ""),
    "HOST": dsn.hostname,
    "PORT": dsn.port or "",
    "OPTIONS": {"pool": json.loads(os.environ.get("MULTIPOOL_SMOKE_POOL", "{}"))},
}
if VENDOR == "oracle":
    # An Easy Connect string: with PORT set Django would read NAME as a SID.
    entry.update(NAME=f"{dsn.hostname}:{dsn.port or 1521}/{database}", HOST="", PORT="")
DATABASES = {"default": entry}

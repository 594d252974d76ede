"""Keep a database password out of text we print, log or serve.

Messages of drivers and of Django are not ours to trust: a connection error
may quote a connect string. Anything the checks, ``pool_status`` or a status
view shows that came from an exception goes through :func:`redact`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["REDACTED", "redact", "secrets_of"]

REDACTED = "********"

# Parts of OPTIONS keys under which drivers take a secret: psycopg's
# password/sslpassword, mysql-connector's passwd/password1-3, oracledb's
# wallet_password, and whatever a driver adds under such a name.
_SECRET_KEY_PARTS = ("pass", "secret", "token")
# oracledb's "user/password@dsn" in NAME, which Django passes on as the dsn.
_ORACLE_USER_PASSWORD = re.compile(r"^[^/@()\s]+/([^@]+)@")


def secrets_of(settings_dict: Mapping[str, Any]) -> list[str]:
    """Every password a DATABASES entry holds, longest first."""
    found: list[Any] = [settings_dict.get("PASSWORD")]
    options = settings_dict.get("OPTIONS") or {}
    if isinstance(options, Mapping):
        found += _secret_values(options)
        pool = options.get("pool")
        driver_options = pool.get("driver_options") if isinstance(pool, Mapping) else None
        if isinstance(driver_options, Mapping):
            found += _secret_values(driver_options)
    name = settings_dict.get("NAME")
    if isinstance(name, str):
        match = _ORACLE_USER_PASSWORD.match(name)
        if match:
            found.append(match.group(1))
    return sorted({str(s) for s in found if s}, key=len, reverse=True)


def _secret_values(options: Mapping[Any, Any]) -> list[Any]:
    return [
        value
        for key, value in options.items()
        if isinstance(key, str)
        and isinstance(value, str)
        and any(part in key.lower() for part in _SECRET_KEY_PARTS)
    ]


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text

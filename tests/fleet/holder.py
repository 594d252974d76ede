"""A process that opens one pool and holds sessions of it until its stdin closes.

``python -m tests.fleet.holder`` with ``HOLDER_DATABASE`` (a DATABASES entry
as JSON) and ``HOLDER_SESSIONS`` (how many to hold; the first one inside an
open transaction). Prints ``ready <pid>`` once they are all open on the
server, so that the test reads the server's session list only then.
"""

from __future__ import annotations

import json
import os
import sys

import django
from django.conf import settings


def main() -> None:
    settings.configure(
        DATABASES={"default": json.loads(os.environ["HOLDER_DATABASE"])},
        INSTALLED_APPS=["django_multipool"],
        USE_TZ=True,
    )
    django.setup()
    from django.db import connection

    pool = connection.pool
    assert pool is not None
    held = [pool.acquire() for _ in range(int(os.environ["HOLDER_SESSIONS"]))]
    for conn in held:
        cursor = conn.cursor()
        cursor.execute("SELECT 1")
        cursor.fetchall()
        cursor.close()
    first = held[0]
    cursor = first.cursor()
    # One session idle inside a transaction, as a request stuck between statements.
    cursor.execute("BEGIN" if connection.vendor == "postgresql" else "START TRANSACTION")
    cursor.execute("SELECT 1")
    cursor.fetchall()
    cursor.close()
    print(f"ready {os.getpid()}", flush=True)
    sys.stdin.read()
    first.rollback()
    for conn in held:
        pool.release(conn)
    pool.close()


if __name__ == "__main__":
    main()

"""One page that uses every alias the way a view does: statements, and a transaction."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse
from django.utils.html import escape

#: Statements the page runs on each alias outside atomic(), then inside one block.
AUTOCOMMIT_STATEMENTS = 3
ATOMIC_STATEMENTS = 2


def show_toolbar(request: HttpRequest) -> bool:
    return True


def page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_page())


async def async_page(request: HttpRequest) -> HttpResponse:
    """The same statements from an async view, as its ORM calls run them (in a thread)."""
    return HttpResponse(await sync_to_async(_page)())


def _page() -> str:
    results = []
    for alias in connections:
        for n in range(AUTOCOMMIT_STATEMENTS):
            results.append((alias, _select(alias, n)))
        with transaction.atomic(using=alias):
            for n in range(ATOMIC_STATEMENTS):
                results.append((alias, _select(alias, 10 + n)))
    items = "".join(f"<li>{escape(alias)}: {value}</li>" for alias, value in results)
    return (
        f"<!DOCTYPE html><html><head><title>Pools</title></head>"
        f"<body><h1>Statements run</h1><ul id='results'>{items}</ul></body></html>"
    )


def _select(alias: str, n: int) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT %s", [n])
        (value,) = cursor.fetchone()
    return int(value)

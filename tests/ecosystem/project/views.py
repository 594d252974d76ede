"""Views a site would have: several ORM queries, a transaction, a chunked
iterator and a raw ``connection.cursor()`` query; sync and async.

Each page carries, beside its results, what the pool looked like between the
view's statements (``held``: the pool's ``checked_out`` and whether the
wrapper holds a connection) and whether another thread could run a
statement on the same alias right after an ORM query outside ``atomic()``:
with ``max_size=1``, only if that query gave the connection back. And how the
tools wrapped what the view touched (``wrapping``), for the report.
"""

from __future__ import annotations

import threading
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection, connections, transaction
from django.http import HttpRequest, HttpResponse
from django.utils.html import json_script

from django_multipool import PoolTimeout

from .models import Order, Product


def show_toolbar(request: HttpRequest) -> bool:
    return True


def page(result: dict[str, Any]) -> HttpResponse:
    """HTML, so the toolbar inserts itself; the results as JSON inside."""
    return HttpResponse(
        f"<!DOCTYPE html><html><head><title>shop</title></head>"
        f"<body><h1>shop</h1>{json_script(result, 'result')}</body></html>"
    )


def held() -> dict[str, Any]:
    wrapper = connections["default"]
    return {"checked_out": wrapper.pool.checked_out, "holds": wrapper.connection is not None}


def another_thread_runs_a_statement() -> bool | str:
    """True if a statement of another thread got a connection: False on PoolTimeout."""
    outcome: dict[str, bool | str] = {}

    def work() -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
            outcome["ran"] = True
        except PoolTimeout:
            outcome["ran"] = False
        except Exception as exc:
            outcome["ran"] = repr(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(30)
    return outcome.get("ran", "the thread did not finish")


def _name(obj: Any) -> str:
    kind = obj if isinstance(obj, type) else type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def wrapping(cursor: Any) -> dict[str, Any]:
    """How the cursor and connection a view uses were built, tools included."""
    wrapper = connections["default"]
    method = wrapper.cursor
    return {
        "cursor_wrapper_mro": [_name(c) for c in type(cursor).__mro__[:4]],
        "driver_cursor": _name(cursor.cursor),
        "driver_connection": _name(wrapper.connection),
        "wrapper_cursor_method": getattr(method, "__qualname__", _name(method)),
        "cursor_factory": _name(getattr(wrapper.connection, "cursor_factory", None)),
    }


def raw_total(tag: str) -> tuple[int, dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT SUM(quantity) FROM ecosystem_order WHERE tag = %s", [tag])
        (total,) = cursor.fetchone()
        how = wrapping(cursor)
    return int(total), how


def catalogue(request: HttpRequest) -> HttpResponse:
    tag = request.GET["tag"]
    products = [
        list(p) for p in Product.objects.order_by("name").values_list("name", "price_cents")
    ]
    after_orm = held()
    other_thread = another_thread_runs_a_statement()
    cheap = Product.objects.filter(price_cents__lt=1000).count()
    with transaction.atomic():
        product = Product.objects.get(name="anvil")
        Order.objects.create(product=product, quantity=3, tag=tag)
        Order.objects.create(product=product, quantity=4, tag=tag)
        in_atomic = held()
    chunked = [p.name for p in Product.objects.order_by("-name").iterator(chunk_size=2)]
    total, how = raw_total(tag)
    return page(
        {
            "products": products,
            "cheap": cheap,
            "chunked": chunked,
            "orders": Order.objects.filter(tag=tag).count(),
            "raw_total": total,
            "held": {"after_orm": after_orm, "in_atomic": in_atomic, "at_end": held()},
            "other_thread": other_thread,
            "wrapping": how,
        }
    )


async def async_catalogue(request: HttpRequest) -> HttpResponse:
    tag = request.GET["tag"]
    count = await Product.objects.acount()
    after_orm = await sync_to_async(held)()
    names = [p.name async for p in Product.objects.order_by("name")]
    product = await Product.objects.aget(name="bolt")
    await Order.objects.acreate(product=product, quantity=5, tag=tag)
    total, how = await sync_to_async(raw_total)(tag)
    return page(
        {
            "count": count,
            "names": names,
            "raw_total": total,
            "held": {"after_orm": after_orm, "at_end": await sync_to_async(held)()},
            "wrapping": how,
        }
    )

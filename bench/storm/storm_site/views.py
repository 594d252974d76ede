"""(a) a sync view running one query; (b) an async view: query, 0.2 s await, query;
(c) a sync view running 20 trivial queries (what release="transaction" costs per statement);
(d), in drf_views.py: a sync Django REST framework list view.

With ``settings.STORM_CEILING`` (the storm's ``ceiling`` configuration) each
view does all it does but the query: view (b) still hops to Django's sync
thread and back twice, as ``afirst()`` does, so its rate is the most any
pool could give it.
"""

import asyncio
import random

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from .models import Row

#: What an outbound HTTP call would cost view (b).
UPSTREAM_SECONDS = 0.2
#: bench/storm/db.py fills storm_row with ids 1..ROWS.
ROWS = 100


def _no_query() -> int:
    return random.randint(1, ROWS)


#: What afirst() does around its query: one hop to the sync thread and back.
_hop = sync_to_async(_no_query, thread_sensitive=True)


def sync_view(request: HttpRequest) -> JsonResponse:
    if settings.STORM_CEILING:
        return JsonResponse({"value": _no_query()})
    value = Row.objects.filter(pk=random.randint(1, ROWS)).values_list("value", flat=True).first()
    return JsonResponse({"value": value})


async def async_view(request: HttpRequest) -> JsonResponse:
    if settings.STORM_CEILING:
        first_value = await _hop()
        await asyncio.sleep(UPSTREAM_SECONDS)
        return JsonResponse({"values": [first_value, await _hop()]})
    first = await Row.objects.filter(pk=random.randint(1, ROWS)).afirst()
    await asyncio.sleep(UPSTREAM_SECONDS)
    second = await Row.objects.filter(pk=random.randint(1, ROWS)).afirst()
    return JsonResponse({"values": [r.value if r else None for r in (first, second)]})


#: Statements of view (c).
QUERIES = 20


def twenty_queries_view(request: HttpRequest) -> JsonResponse:
    if settings.STORM_CEILING:
        return JsonResponse({"total": sum(_no_query() for _ in range(QUERIES))})
    rows = Row.objects.values_list("value", flat=True)
    total = sum(rows.filter(pk=random.randint(1, ROWS)).first() or 0 for _ in range(QUERIES))
    return JsonResponse({"total": total})


def ready(request: HttpRequest) -> HttpResponse:
    """Readiness probe; touches no database."""
    return HttpResponse("ok")

"""The views the load generator drives.

``sync_hit`` is a classic view: Django runs it on the request's thread, whose
connection goes back to the pool when the request finishes. ``async_hit`` uses
the async ORM around an ``await`` standing in for an HTTP call to another
service: the connection stays checked out across the await, which is why the
pool's wait figures grow with the share of async requests.
"""

from __future__ import annotations

import asyncio

from django.http import HttpRequest, JsonResponse

import django_multipool
from demo.models import Hit

#: What an outbound HTTP call would cost the async view.
UPSTREAM_SECONDS = 0.2


def sync_hit(request: HttpRequest) -> JsonResponse:
    hit = Hit.objects.create(view="sync")
    return JsonResponse({"id": hit.pk})


async def async_hit(request: HttpRequest) -> JsonResponse:
    earlier = await Hit.objects.filter(view="async").acount()
    await asyncio.sleep(UPSTREAM_SECONDS)
    hit = await Hit.objects.acreate(view="async")
    return JsonResponse({"id": hit.pk, "earlier": earlier})


def stats(request: HttpRequest) -> JsonResponse:
    """Every pool of this process, as ``django_multipool.pool_stats()`` reports it."""
    return JsonResponse({alias: s.as_dict() for alias, s in django_multipool.pool_stats().items()})

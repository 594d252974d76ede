"""Views that hold a pooled connection for a while, so a burst saturates the pool."""

import asyncio
import time

from django.http import HttpRequest, JsonResponse

import django_multipool

from .models import Hit

#: How long each view keeps its connection after the first query.
HOLD_SECONDS = 0.05


def sync_view(request: HttpRequest) -> JsonResponse:
    # Runs on the request's thread; its connection goes back at request_finished.
    Hit.objects.create(view="sync")
    time.sleep(HOLD_SECONDS)
    return JsonResponse({"hits": Hit.objects.count()})


async def async_view(request: HttpRequest) -> JsonResponse:
    # The async ORM runs on the same per-request thread (thread_sensitive).
    await Hit.objects.acreate(view="async")
    await asyncio.sleep(HOLD_SECONDS)
    return JsonResponse({"hits": await Hit.objects.acount()})


#: What sleep_view awaits between its two queries (an HTTP call, say).
SLEEP_SECONDS = 0.5


async def sleep_view(request: HttpRequest) -> JsonResponse:
    # With release="transaction" no connection is held during the sleep.
    await Hit.objects.acreate(view="sleep")
    await asyncio.sleep(SLEEP_SECONDS)
    return JsonResponse({"hits": await Hit.objects.acount()})


def stats(request: HttpRequest) -> JsonResponse:
    return JsonResponse({a: s.as_dict() for a, s in django_multipool.pool_stats().items()})

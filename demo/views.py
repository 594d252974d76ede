"""The views the load generator drives; each returns proof that it got its own query's result.

The client sends a fresh ``nonce`` with every request. The view INSERTs a row
carrying it, then SELECTs that row by the primary key the INSERT returned and
answers with the nonce it read. If a connection ever served two requests at
once (a socket shared across ``fork()``), one of them reads the other's row or
a garbled reply, and the client sees a nonce that is not its own.

``sync_hit`` is a classic view. ``async_hit`` uses the async ORM around an
``await`` standing in for an HTTP call to another service: whether the
connection is held across that await is what the configurations differ on.
"""

from __future__ import annotations

import asyncio

from django.http import HttpRequest, HttpResponseBadRequest, JsonResponse

import django_multipool
from demo.env import UPSTREAM_SECONDS
from demo.models import Hit


def _nonce(request: HttpRequest) -> str | None:
    nonce = request.GET.get("nonce", "")
    return nonce if 0 < len(nonce) <= 32 else None


def sync_hit(request: HttpRequest) -> JsonResponse | HttpResponseBadRequest:
    nonce = _nonce(request)
    if nonce is None:
        return HttpResponseBadRequest("?nonce= (1-32 characters) is required")
    hit = Hit.objects.create(view="sync", nonce=nonce)
    read = Hit.objects.values_list("nonce", flat=True).get(pk=hit.pk)
    return JsonResponse({"nonce": read})


async def async_hit(request: HttpRequest) -> JsonResponse | HttpResponseBadRequest:
    nonce = _nonce(request)
    if nonce is None:
        return HttpResponseBadRequest("?nonce= (1-32 characters) is required")
    hit = await Hit.objects.acreate(view="async", nonce=nonce)
    await asyncio.sleep(UPSTREAM_SECONDS)
    read = await Hit.objects.values_list("nonce", flat=True).aget(pk=hit.pk)
    return JsonResponse({"nonce": read})


def stats(request: HttpRequest) -> JsonResponse:
    """Every pool of ours in this process, as ``django_multipool.pool_stats()`` reports it."""
    return JsonResponse({alias: s.as_dict() for alias, s in django_multipool.pool_stats().items()})

"""(d) a sync Django REST framework list view: a page of 10 rows through a ModelSerializer.

What a DRF site's list endpoint sends per request: the page's ``COUNT(*)``
(PageNumberPagination) and its ``SELECT``, then the serializer's work. With
``settings.STORM_CEILING`` the same serializer and the same response shape
on rows built in memory, so no query.
"""

from typing import Any

from django.conf import settings
from rest_framework import generics, pagination, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from .models import Row

#: Rows per page; bench/storm/db.py fills storm_row with ids 1..100.
PAGE = 10
ROWS = 100


class RowSerializer(serializers.ModelSerializer):
    class Meta:
        model = Row
        fields = ["id", "value"]


class Page(pagination.PageNumberPagination):
    page_size = PAGE


class RowList(generics.ListAPIView):
    serializer_class = RowSerializer
    pagination_class = Page
    # JSON only: the browsable API's templates are not what is measured.
    renderer_classes = [JSONRenderer]
    queryset = Row.objects.order_by("id")  # ordered, as a paginated list must be

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if settings.STORM_CEILING:
            rows = [Row(id=i, value=i * 7) for i in range(1, PAGE + 1)]
            results = self.get_serializer(rows, many=True).data
            return Response({"count": ROWS, "next": None, "previous": None, "results": results})
        return super().list(request, *args, **kwargs)


drf_list_view = RowList.as_view()

"""The Django project's own views keep working next to the gateway."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path


def ping(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"django": "pong"})


urlpatterns = [path("ping/", ping)]

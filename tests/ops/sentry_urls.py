"""A URLconf with a view that crashes, for the Sentry privacy test."""

from django.http import HttpRequest, HttpResponse
from django.urls import path


def crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom for sentry")


urlpatterns = [path("crash/", crash)]

from django.contrib import admin
from django.urls import include, path

from config.api import API_ALIAS_NAMESPACE, api
from modules.identity import pages
from modules.ops.api import prometheus_metrics

admin.site.site_header = "Resee administration"
admin.site.site_title = "Resee admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    # The versioned API (docs/api.md). It comes first: it owns the "api" namespace, so reverse() and
    # the OpenAPI schema name /api/v1/ paths, and /api/v1/... never reaches the alias below.
    path("api/v1/", api.urls),
    # /api/ is an alias of /api/v1/: the same views (one NinjaAPI, one set of routers, handlers and
    # throttles) under a second prefix and its own namespace.
    path("api/", (api.urls[0], "ninja", API_ALIAS_NAMESPACE)),
    path("metrics", prometheus_metrics, name="prometheus-metrics"),  # Bearer METRICS_BEARER_TOKEN
    # The pages behind the links of the verification and reset emails (modules/identity/pages.py).
    path("", include((pages.urlpatterns, pages.app_name))),
]

from django.contrib import admin
from django.urls import path

from config.api import api
from modules.ops.api import prometheus_metrics

admin.site.site_header = "Resee administration"
admin.site.site_title = "Resee admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("metrics", prometheus_metrics, name="prometheus-metrics"),  # Bearer METRICS_BEARER_TOKEN
]

from django.contrib import admin
from django.urls import path

from config.api import api

admin.site.site_header = "Resee administration"
admin.site.site_title = "Resee admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
]

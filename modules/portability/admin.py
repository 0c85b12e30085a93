"""Jobs in the admin: read-only (a job is changed by its worker only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from modules.portability.models import ExportJob, ImportJob


class _JobAdmin(admin.ModelAdmin):
    list_filter = ("status",)
    search_fields = ("user__email",)
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    raw_id_fields = ("user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ExportJob)
class ExportJobAdmin(_JobAdmin):
    list_display = ("id", "user", "format", "status", "progress", "size_bytes", "created_at", "expires_at")
    readonly_fields = [field.name for field in ExportJob._meta.fields]


@admin.register(ImportJob)
class ImportJobAdmin(_JobAdmin):
    list_display = ("id", "user", "kind", "status", "progress", "original_name", "size_bytes", "created_at")
    readonly_fields = [field.name for field in ImportJob._meta.fields]

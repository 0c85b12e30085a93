"""Jobs in the admin: read-only (a job is changed by its worker only)."""

from __future__ import annotations

from django.contrib import admin

from modules.common.admin import ViewOnlyAdmin
from modules.portability.models import ExportJob, ImportJob


class _JobAdmin(ViewOnlyAdmin):
    list_filter = ("status",)
    search_fields = ("user__email",)
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(ExportJob)
class ExportJobAdmin(_JobAdmin):
    list_display = ("id", "user", "format", "status", "progress", "size_bytes", "created_at", "expires_at")
    readonly_fields = [field.name for field in ExportJob._meta.fields]


@admin.register(ImportJob)
class ImportJobAdmin(_JobAdmin):
    list_display = ("id", "user", "kind", "status", "progress", "original_name", "size_bytes", "created_at")
    readonly_fields = [field.name for field in ImportJob._meta.fields]

"""Admin helpers shared by the modules' admins: deleting an owner with its append-only history.

History admins (review history, the AI request log) refuse deleting their rows one by one. Django's
delete confirmation asks every cascaded object's admin for delete permission, so an account or a
content with history could not be deleted at all ("your account doesn't have permission to delete
... review history"). A history admin sets ``deleted_with_owner = True``; an owner's admin mixes in
``DeletesOwnedHistory``, so its rows go with their owner (as the API's deletion does) and stay
non-deletable on their own.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


def _history_names(site: admin.AdminSite) -> set[str]:
    return {
        str(model_admin.model._meta.verbose_name)
        for model_admin in site._registry.values()
        if getattr(model_admin, "deleted_with_owner", False)
    }


class DeletesOwnedHistory(admin.ModelAdmin):
    """An owner's admin: deleting it needs no delete permission on the history that cascades with it."""

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, set[str], Any]:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(perms_needed) - _history_names(self.admin_site), protected

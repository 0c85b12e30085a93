"""Admin helpers shared by the modules' admins: view-only admins, and deleting an owner with its
append-only history.

History admins (review history, the AI request log) refuse deleting their rows one by one. Django's
delete confirmation asks every cascaded object's admin for delete permission, so an account or a
content with history could not be deleted at all ("your account doesn't have permission to delete
... review history"). A history admin sets ``deleted_with_owner = True``; an owner's admin mixes in
``DeletesOwnedHistory``, so its rows go with their owner (as the API's deletion does) and stay
non-deletable on their own.

The confirmation page counts what goes instead of listing it: Django's own page loads and renders
every cascaded row (its collector never fast-deletes), which took 3.3 s for 5,000 reviews and would
take minutes for a learner with a million, far past the web worker's timeout. Here the rows that
would be deleted by a query are counted by one ``COUNT`` per relation. It still loads the rows that
cascade further (a content's card) and counts the rest by their ids, so its cost grows with the owner:
right for a content, not for an account (0.98 s for 10,000 contents and 100,000 reviews). Accounts are
closed rather than deleted in the admin, with a confirmation that reads none of their data
(modules/identity/admin.py).

Change lists of tables that grow with every learner's every review (``LargeTableAdmin``) count at most
``CappedCountPaginator.CAP`` rows: Django counts the filtered rows for its paginator and, unless told
otherwise, every row of the table again for "N of M selected". With a million reviews each count took
0.1 s (0.9 s behind a search), and both grow with the table without bound. Their filters on free-text
columns take their choices from the latest rows (``recent_values``), not from the whole table.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import router
from django.db.models import Model
from django.db.models.deletion import Collector, ProtectedError, RestrictedError
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.text import capfirst


class ViewOnlyAdmin(admin.ModelAdmin):
    """Rows written by the application only (logs, samples, jobs, history): no add, no change."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ViewOnlyAdmin):
    """View-only and never deleted one by one (append-only history, token records)."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CappedCountPaginator(Paginator):
    """Counts at most ``CAP + 1`` rows (``SELECT COUNT(*) FROM (... LIMIT CAP + 1)``): past it, the
    change list shows ``CAP + 1`` results and its pages up to there; a filter or a search narrows
    further. Without the cap, every page of a list counted all its rows."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        return self.object_list.order_by()[: self.CAP + 1].count()


class LargeTableAdmin(admin.ModelAdmin):
    """A change list over a table without bound (every review, request, email): capped counts, and no
    second count of the whole table."""

    paginator = CappedCountPaginator
    show_full_result_count = False


class RecentValuesFilter(admin.SimpleListFilter):
    """A list filter over a free-text column (a model's name, a template) whose choices are the values of
    the latest ``RECENT`` rows, read by the ordering's index, instead of Django's
    ``AllValuesFieldListFilter``, which reads the column's distinct values over the whole table on every
    page (a scan that grows with the table). Made by ``recent_values``."""

    RECENT = 10_000
    field_name = ""
    ordering_field = "-created_at"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        latest = model_admin.get_queryset(request).order_by(self.ordering_field)[: self.RECENT]
        values = {value for value in latest.values_list(self.field_name, flat=True) if value}
        return [(value, value) for value in sorted(values)]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        value = self.value()
        return queryset.filter(**{self.field_name: value}) if value else queryset


def recent_values(field_name: str, *, ordering: str = "-created_at") -> type[RecentValuesFilter]:
    """A ``RecentValuesFilter`` of ``field_name`` (the latest rows by ``ordering``, which must be indexed)."""
    return type(
        f"Recent{field_name.title().replace('_', '')}Filter",
        (RecentValuesFilter,),
        {
            "title": f"{field_name.replace('_', ' ')} (in the latest {RecentValuesFilter.RECENT:,} rows)",
            "parameter_name": field_name,
            "field_name": field_name,
            "ordering_field": ordering,
        },
    )


def _history_names(site: admin.AdminSite) -> set[str]:
    return {
        str(model_admin.model._meta.verbose_name)
        for model_admin in site._registry.values()
        if getattr(model_admin, "deleted_with_owner", False)
    }


class DeletesOwnedHistory(admin.ModelAdmin):
    """An owner's admin: deleting it needs no delete permission on the history that cascades with it,
    and its confirmation page costs a query per relation, not a row per cascaded object."""

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, set[str], Any]:
        objs = list(objs)
        if not objs:
            return [], {}, set(), []
        collector = Collector(using=router.db_for_write(self.model), origin=objs)
        try:
            collector.collect(objs)
        except (ProtectedError, RestrictedError) as exc:
            blocking = getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", ())
            return [], {}, set(), [str(obj) for obj in blocking]
        counts: Counter[type[Model]] = Counter()
        for model, instances in collector.data.items():
            counts[model] += len(instances)
        # A model reached by two relations (a review by its user and by its content) has a queryset
        # for each: counted once, as their union, less the rows already loaded.
        by_model: dict[type[Model], Any] = {}
        for queryset in collector.fast_deletes:
            model = queryset.model
            by_model[model] = by_model[model] | queryset if model in by_model else queryset
        for model, queryset in by_model.items():
            loaded = [obj.pk for obj in collector.data.get(model, ())]
            counts[model] += (queryset.exclude(pk__in=loaded) if loaded else queryset).count()
        history = _history_names(self.admin_site)
        perms_needed = set()
        for model in counts:
            model_admin = self.admin_site._registry.get(model)
            name = str(model._meta.verbose_name)
            if (
                model_admin is not None
                and name not in history
                and not model_admin.has_delete_permission(request)
            ):
                perms_needed.add(name)
        own = {type(obj) for obj in objs}
        deleted: list[Any] = [f"{capfirst(str(obj._meta.verbose_name))}: {obj}" for obj in objs]
        deleted += [
            f"{capfirst(str(model._meta.verbose_name_plural))}: {count:,}"
            for model, count in sorted(
                counts.items(), key=lambda item: str(item[0]._meta.verbose_name_plural)
            )
            if count and model not in own
        ]
        model_count = {
            str(model._meta.verbose_name_plural): count for model, count in counts.items() if count
        }
        return deleted, model_count, perms_needed, []

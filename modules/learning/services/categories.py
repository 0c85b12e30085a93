"""Categories: a user's named groups of content (unique names per user, case-insensitively)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from modules.common.errors import Conflict, NotFound
from modules.identity import services as identity
from modules.identity.services import User
from modules.learning import readcache, selectors
from modules.learning.models import Category
from modules.learning.services import tallies

NAME_TAKEN = "You already have a category with this name."


@dataclass(frozen=True)
class CategoryView:
    id: int
    name: str
    slug: str
    description: str
    content_count: int


def category_slug(name: str) -> str:
    return slugify(name, allow_unicode=True)[:120] or "category"


def _name_taken(*, user: User, name: str, exclude_id: int | None = None) -> bool:
    queryset = Category.objects.filter(user=user, name__iexact=name)
    if exclude_id is not None:
        queryset = queryset.exclude(pk=exclude_id)
    return queryset.exists()


def _view(row: dict[str, Any]) -> CategoryView:
    return CategoryView(
        id=row["id"],
        name=row["name"],
        slug=row["slug"],
        description=row["description"],
        content_count=row["content_count"],
    )


def category_list(*, user: User) -> selectors.RowPage[CategoryView]:
    """The user's categories with their content counts, by name: slice it for a page (one query),
    ``len()`` for the total."""
    return selectors.RowPage(selectors.category_rows(user_id=user.pk), _view)


@readcache.learning_write
def create_category(*, user: User, name: str, description: str = "") -> CategoryView:
    """A new category. Like content, it needs a verified email: until then an account only reads."""
    identity.ensure_email_verified(user)
    name = name.strip()
    if _name_taken(user=user, name=name):
        raise Conflict(NAME_TAKEN)
    try:
        with transaction.atomic():
            category = Category.objects.create(
                user=user, name=name, slug=category_slug(name), description=description
            )
    except IntegrityError as exc:  # a concurrent request created the same name first
        raise Conflict(NAME_TAKEN) from exc
    return CategoryView(
        id=category.pk,
        name=category.name,
        slug=category.slug,
        description=category.description,
        content_count=0,
    )


@readcache.learning_write
def update_category(*, user: User, category_id: int, changes: dict[str, Any]) -> CategoryView:
    """Applies ``changes`` (name, description; a None value leaves the field as it is)."""
    category = Category.objects.filter(user=user, pk=category_id).first()
    if category is None:
        raise NotFound("Category not found.")
    if changes.get("name") is not None:
        name = changes["name"].strip()
        if _name_taken(user=user, name=name, exclude_id=category.pk):
            raise Conflict(NAME_TAKEN)
        category.name, category.slug = name, category_slug(name)
    if changes.get("description") is not None:
        category.description = changes["description"]
    try:
        with transaction.atomic():
            category.save(update_fields=["name", "slug", "description"])
    except IntegrityError as exc:
        raise Conflict(NAME_TAKEN) from exc
    row = selectors.category_row(user_id=user.pk, category_id=category.pk)
    assert row is not None
    return _view(row)


@readcache.learning_write
@transaction.atomic
def delete_category(*, user: User, category_id: int) -> None:
    """Deletes the category; its content stays, uncategorised (the foreign key is SET_NULL).

    The row is locked before Django collects the content to uncategorise: a content write that holds
    the category (``owned_category``) finishes first, so its content is collected too; one that comes
    later finds no category (NotFound) rather than a foreign key violation at commit.
    """
    locked = (
        Category.objects.select_for_update().filter(user=user, pk=category_id).values_list("pk", flat=True)
    )
    if not list(locked):
        raise NotFound("Category not found.")
    tallies.uncategorise(user_id=user.pk, category_id=category_id)
    Category.objects.filter(pk=category_id).delete()


def owned_category(*, user: User, category_id: int) -> Category:
    """The user's category, held until the caller's transaction ends (call it inside one).

    ``FOR NO KEY UPDATE`` conflicts with a delete's lock, so a category cannot vanish between this
    check and the content row that points at it (see ``delete_category``).
    """
    category = (
        Category.objects.select_for_update(no_key=True)
        .filter(user=user, pk=category_id)
        .only("id", "name", "slug")
        .first()
    )
    if category is None:
        raise NotFound("Category not found.")
    return category

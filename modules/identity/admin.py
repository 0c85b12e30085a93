"""Django admin for users, subscriptions and the email log.

Subscription changes made here go through the service (the "Set tier" actions through
``change_tier``; a subscription's tier, expiry or active flag edited on its page through
``change_subscription``), so each is recorded in the tier change history like ``manage.py set_tier``'s.
A password set here ends the user's sessions, as a password change through the API does. Deleting
users here (one, or the bulk action) is the API's account deletion: each account is closed at once
(``services.close_account``: signed out everywhere, its address free again) and the worker erases it
with all its data. The confirmation page costs the same for any account: it names the accounts and
says what goes, where Django's own page (and its counting variant, ``DeletesOwnedHistory``) collected
every content and card of the account in Python and counted its history by their ids. A closed account
awaiting its erasure is shown (``closed at``, the "Account" filter) but can no longer be changed.

Token records (ninja_jwt's outstanding and blacklisted tokens) are shown read-only, without the token
text and with their users joined: a blacklist row added here would list every outstanding token in a
select (a query per token), and one deleted would make its refresh token work again.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, AdminUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from ninja_jwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from modules.common.admin import (
    LargeTableAdmin,
    ReadOnlyAdmin,
    ViewOnlyAdmin,
    recent_values,
)
from modules.identity import services
from modules.identity.models import EmailLog, Subscription, SubscriptionChange, User
from modules.identity.tiers import Tier


class _LowercaseEmailMixin:
    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data.get("email"))  # type: ignore[attr-defined]
        others = User.objects.filter(email=email)
        if self.instance.pk:  # type: ignore[attr-defined]
            others = others.exclude(pk=self.instance.pk)  # type: ignore[attr-defined]
        if others.exists():
            raise forms.ValidationError("A user with this email already exists.")
        return email


class UserCreationForm(_LowercaseEmailMixin, AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email",)
        field_classes: dict[str, Any] = {}


class UserChangeForm(_LowercaseEmailMixin, DjangoUserChangeForm):
    class Meta(DjangoUserChangeForm.Meta):
        model = User
        fields = "__all__"
        field_classes: dict[str, Any] = {}


class RevokingPasswordChangeForm(AdminPasswordChangeForm):
    def save(self, commit: bool = True) -> User:
        user = super().save(commit=commit)
        if commit:
            services.revoke_all_sessions(user)
        return user


# Each user is its own transaction (~2 ms) inside the request: 9,000 took 20 s, so past ~12,000 the
# request would outlive GUNICORN_TIMEOUT (30 s) half applied. Larger selections are refused.
SET_TIER_ACTION_MAX = 1000


def _set_tier_action(tier: Tier) -> Any:
    @admin.action(description=f"Set tier to {tier.value} (open-ended)")
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        users = queryset if queryset.model is User else User.objects.filter(subscription__in=queryset)
        selected = users.count()
        if selected > SET_TIER_ACTION_MAX:
            modeladmin.message_user(
                request,
                f"{selected} users selected: this action changes at most {SET_TIER_ACTION_MAX} at once. "
                "Nothing was changed. Narrow the selection with the filters, or run "
                "`manage.py set_tier <email> <tier> [--days N]` per user.",
                messages.ERROR,
            )
            return
        changed = expiries_removed = 0
        for user in users.select_related("subscription"):
            sub = getattr(user, "subscription", None)
            had_expiry = sub is not None and sub.expires_at is not None
            if services.change_tier(user=user, tier=tier, source="admin") is not None:
                changed += 1
                expiries_removed += had_expiry
        message = f"{changed} user(s) moved to {tier.value}, open-ended."
        if expiries_removed:
            message += (
                f" {expiries_removed} of them had an expiry date, now removed: set one on the "
                "subscription's page or with `manage.py set_tier <email> <tier> --days N`."
            )
        modeladmin.message_user(request, message, messages.WARNING if expiries_removed else messages.SUCCESS)

    action.__name__ = f"set_tier_{tier.value.lower()}"
    return action


TIER_ACTIONS = [_set_tier_action(tier) for tier in Tier]

# Closing is about a dozen queries per account, each in the request; like the tier actions, a larger
# selection is refused rather than left half done at the web server's timeout.
CLOSE_ACTION_MAX = 1000
ERASED_IN_BACKGROUND = (
    "Everything the account owns (contents, categories, review history, AI questions and jobs, "
    "exports and imports, sessions) is erased by the background worker within moments."
)


def _closed_message(closed: list[str], already: int) -> str:
    parts = []
    if len(closed) == 1:
        parts.append(
            f"The account “{closed[0]}” is closed: it can no longer sign in and its address is free "
            "again. Its data is being erased in the background."
        )
    elif closed:
        parts.append(
            f"{len(closed)} accounts closed: they can no longer sign in and their addresses are free "
            "again. Their data is being erased in the background."
        )
    if already:
        parts.append(f"{already} selected account(s) were closed already; their erasure is under way.")
    return " ".join(parts)


@admin.action(
    permissions=["delete"], description="Delete selected users (closed now, data erased in the background)"
)
def close_selected(modeladmin: UserAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    """Django's "Delete selected" with the account closure instead of Django's deletion: its confirmation
    page (built from ``UserAdmin.get_deleted_objects``, constant per account), then the closures."""
    if not request.POST.get("post"):
        return django_delete_selected(modeladmin, request, queryset)
    selected = queryset.count()
    if selected > CLOSE_ACTION_MAX:
        modeladmin.message_user(
            request,
            f"{selected} users selected: at most {CLOSE_ACTION_MAX} accounts are closed at once. Nothing "
            "was changed. Narrow the selection with the filters.",
            messages.ERROR,
        )
        return None
    modeladmin.log_deletions(request, queryset)
    closed, already = modeladmin.close_all(list(queryset))
    modeladmin.message_user(request, _closed_message(closed, already), messages.SUCCESS)
    return None


class AccountStateFilter(admin.SimpleListFilter):
    title = "account"
    parameter_name = "account"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("open", "Open"), ("closed", "Closed, being erased")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "open":
            return queryset.filter(closed_at__isnull=True)
        if self.value() == "closed":
            return queryset.filter(closed_at__isnull=False)
        return queryset


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = RevokingPasswordChangeForm
    list_display = ("email", "tier", "is_email_verified", "is_active", "is_staff", "date_joined", "closed_at")
    list_filter = (
        AccountStateFilter,
        "subscription__tier",
        "is_email_verified",
        "is_active",
        "is_staff",
        "scheduler",
    )
    list_select_related = ("subscription",)
    search_fields = ("email", "first_name", "last_name")
    ordering = ("-date_joined",)
    readonly_fields = ("last_login", "date_joined", "token_version", "closed_at")
    actions = TIER_ACTIONS
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "timezone")}),
        (
            "Learning preferences",
            {"fields": ("scheduler", "desired_retention", "daily_reminder_hour", "notifications_enabled")},
        ),
        (
            "Status and permissions",
            {
                "fields": (
                    "is_email_verified",
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Sessions and dates", {"fields": ("token_version", "last_login", "date_joined", "closed_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),
    )

    @admin.display(description="tier", ordering="subscription__tier")
    def tier(self, obj: User) -> str:
        return services.effective_tier(obj).value

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        # A closed account waits for its erasure: reactivating it or giving it an address would bring
        # back an account whose data is going.
        if obj is not None and services.is_closed(obj):
            return False
        return super().has_change_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            actions["delete_selected"] = (close_selected, "delete_selected", close_selected.short_description)
        return actions

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        """The confirmation page's list: the accounts themselves and what goes with them, without
        reading any of their data (its cost does not depend on the accounts' size)."""
        users = list(objs)
        listed: list[Any] = [
            f"User: {user}" + (" (closed already, being erased)" if services.is_closed(user) else "")
            for user in users
        ]
        if users:
            listed.append(ERASED_IN_BACKGROUND)
        return listed, {"users": len(users)}, set(), []

    def close_all(self, users: list[User]) -> tuple[list[str], int]:
        """Closes the accounts in one transaction; answers the addresses of those it closed and how many
        were closed already."""
        closed: list[str] = []
        with transaction.atomic():
            for user in users:
                address = user.email
                if services.close_account(user=user):
                    closed.append(address)
        return closed, len(users) - len(closed)

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        closed, already = self.close_all([obj])
        self.message_user(request, _closed_message(closed, already), messages.SUCCESS)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.close_all(list(queryset))

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> HttpResponse:
        """Back to the list; ``delete_model`` said what happened (Django's "was deleted successfully"
        would not: the row stays until the worker erases it)."""
        if IS_POPUP_VAR in request.POST:
            return super().response_delete(request, obj_display, obj_id)
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist", current_app=self.admin_site.name
        )
        preserved = {"preserved_filters": self.get_preserved_filters(request), "opts": self.opts}
        return HttpResponseRedirect(add_preserved_filters(preserved, url))


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("user", "tier", "started_at", "expires_at", "is_active")
    list_filter = ("tier", "is_active")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    actions = TIER_ACTIONS

    def get_readonly_fields(self, request: HttpRequest, obj: Subscription | None = None) -> tuple[str, ...]:
        # started_at is the moment of the last change (set by the service); a subscription belongs to
        # its user for good.
        return ("user", "started_at") if obj is not None else ("started_at",)

    def save_model(self, request: HttpRequest, obj: Subscription, form: Any, change: bool) -> None:
        """Tier, expiry and active flag go through ``services.change_subscription``, which records the
        change (from the tier that counted before to the one that counts after)."""
        services.change_subscription(
            user=obj.user,
            tier=obj.tier,
            expires_at=obj.expires_at,
            is_active=obj.is_active,
            source="admin",
        )
        saved = obj.user.subscription  # the row the service wrote (or found unchanged)
        obj.pk, obj.started_at = saved.pk, saved.started_at


@admin.register(SubscriptionChange)
class SubscriptionChangeAdmin(ViewOnlyAdmin):  # written by tier changes only
    list_display = ("user", "from_tier", "to_tier", "changed_at", "source")
    list_filter = ("to_tier", "source")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    date_hierarchy = "changed_at"


@admin.register(EmailLog)
class EmailLogAdmin(LargeTableAdmin):
    list_display = ("to", "template", "status", "attempts", "created_at", "last_attempt_at", "sent_at")
    list_filter = ("status", recent_values("template"), ("created_at", admin.DateFieldListFilter))
    search_fields = ("to",)
    exclude = ("body_text", "body_html", "headers")  # may hold links with a token
    readonly_fields = (
        "to",
        "template",
        "subject",
        "status",
        "attempts",
        "error",
        "created_at",
        "last_attempt_at",
        "next_attempt_at",
        "sent_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class _ReadOnlyTokenAdmin(LargeTableAdmin, ReadOnlyAdmin):
    """Views only: tokens are written by logins, refreshes, logouts and revocations."""

    actions = None


for _model in (OutstandingToken, BlacklistedToken):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)  # ninja_jwt's own admins (an N+1 add page, deletable rows)


@admin.register(OutstandingToken)
class OutstandingTokenAdmin(_ReadOnlyTokenAdmin):
    list_display = ("jti", "user", "created_at", "expires_at")
    list_select_related = ("user",)
    search_fields = ("user__email", "jti")
    ordering = ("-created_at",)
    fields = ("jti", "user", "created_at", "expires_at")  # not "token": a live refresh token's text


@admin.register(BlacklistedToken)
class BlacklistedTokenAdmin(_ReadOnlyTokenAdmin):
    list_display = ("token_jti", "token_user", "token_expires_at", "blacklisted_at")
    list_select_related = ("token__user",)
    search_fields = ("token__user__email", "token__jti")
    ordering = ("-blacklisted_at",)
    fields = ("token_jti", "token_user", "token_expires_at", "blacklisted_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("token__user")

    @admin.display(description="jti", ordering="token__jti")
    def token_jti(self, obj: BlacklistedToken) -> str:
        return obj.token.jti

    @admin.display(description="user", ordering="token__user__email")
    def token_user(self, obj: BlacklistedToken) -> Any:
        return obj.token.user

    @admin.display(description="expires at", ordering="token__expires_at")
    def token_expires_at(self, obj: BlacklistedToken) -> Any:
        return obj.token.expires_at

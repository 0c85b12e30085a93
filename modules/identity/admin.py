"""Django admin for users, subscriptions and the email log.

Subscription changes made here go through the service (the "Set tier" actions through
``change_tier``; a subscription's tier, expiry or active flag edited on its page through
``change_subscription``), so each is recorded in the tier change history like ``manage.py set_tier``'s.
A password set here ends the user's sessions, as a password change through the API does. Deleting
users here (one, or the bulk action) is the API's account deletion (``services.delete_account``): their
email log and token records go too, and their review history goes with them.

Token records (ninja_jwt's outstanding and blacklisted tokens) are shown read-only, without the token
text and with their users joined: a blacklist row added here would list every outstanding token in a
select (a query per token), and one deleted would make its refresh token work again.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, AdminUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja_jwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from modules.common.admin import (
    DeletesOwnedHistory,
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


@admin.register(User)
class UserAdmin(DeletesOwnedHistory, DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = RevokingPasswordChangeForm
    list_display = ("email", "tier", "is_email_verified", "is_active", "is_staff", "date_joined")
    list_filter = ("subscription__tier", "is_email_verified", "is_active", "is_staff", "scheduler")
    list_select_related = ("subscription",)
    search_fields = ("email", "first_name", "last_name")
    ordering = ("-date_joined",)
    readonly_fields = ("last_login", "date_joined", "token_version")
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
        ("Sessions and dates", {"fields": ("token_version", "last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),
    )

    @admin.display(description="tier", ordering="subscription__tier")
    def tier(self, obj: User) -> str:
        return services.effective_tier(obj).value

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        services.delete_account(user=obj)

    @transaction.atomic
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for user in queryset:
            services.delete_account(user=user)


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

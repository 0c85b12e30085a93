from django.contrib import admin

from modules.identity.models import EmailLog, Subscription, SubscriptionChange, User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("email", "is_email_verified", "is_active", "is_staff", "date_joined")
    list_filter = ("is_email_verified", "is_active", "is_staff", "subscription__tier")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("-date_joined",)
    exclude = ("password",)
    readonly_fields = ("last_login", "date_joined", "token_version")


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("user", "tier", "started_at", "expires_at", "is_active")
    list_filter = ("tier", "is_active")
    search_fields = ("user__email",)
    list_select_related = ("user",)


@admin.register(SubscriptionChange)
class SubscriptionChangeAdmin(admin.ModelAdmin):
    list_display = ("user", "from_tier", "to_tier", "changed_at", "source")
    list_filter = ("to_tier", "source")
    search_fields = ("user__email",)
    list_select_related = ("user",)


@admin.register(EmailLog)
class EmailLogAdmin(admin.ModelAdmin):
    list_display = ("to", "template", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "template")
    search_fields = ("to",)
    readonly_fields = ("to", "template", "subject", "status", "attempts", "error", "created_at", "sent_at")

"""The insights routers, both mounted at /api/analytics/: ``router`` for every learner, ``admin_router``
for admins (``config/api.py`` mounts it with the staff-only authenticator). Thin: call a service, shape
its answer."""

from django.http import HttpRequest
from ninja import Query, Router

from modules.insights import services
from modules.insights.schemas import DashboardOut, RetentionFilters, RetentionOut, SubscriptionAnalyticsOut

router = Router(tags=["analytics"])
admin_router = Router(tags=["analytics"])


@router.get("/dashboard/", response=DashboardOut, summary="Your learning dashboard")
def dashboard(request: HttpRequest) -> services.Dashboard:
    """Totals, what is due today (overdue included), success rates over 7 and 30 local days, reviews per
    day for 30 days, predicted retention now and in 7 days, per-category stats, the 7-day forecast and
    today's AI usage. Days are your local days (your profile's time zone)."""
    return services.dashboard(user=request.auth)


@router.get("/retention/", response=RetentionOut, summary="Observed recall beside the predicted recall")
def retention(request: HttpRequest, filters: Query[RetentionFilters]) -> services.Retention:
    """Your reviews grouped by the interval since the previous one: the share you remembered beside
    the share your scheduler predicted, per bucket (optionally over the last `days` days only)."""
    return services.retention(user=request.auth, days=filters.days)


@admin_router.get(
    "/subscriptions/", response=SubscriptionAnalyticsOut, summary="Subscription analytics (admins only)"
)
def subscriptions(request: HttpRequest) -> services.SubscriptionAnalytics:
    """Users per tier, active users over 7 and 30 days, AI questions and their cost per tier, and tier
    changes over 30 days. Staff only: anyone else answers 403 `forbidden`."""
    return services.subscription_analytics()

"""The insights router, mounted at /api/analytics/. Thin: call a service, answer its numbers."""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from modules.insights import services
from modules.insights.schemas import DashboardOut, RetentionFilters, RetentionOut, SubscriptionAnalyticsOut

router = Router(tags=["analytics"])


@router.get("/dashboard/", response=DashboardOut, summary="Your learning dashboard")
def dashboard(request: HttpRequest) -> Any:
    return services.dashboard(user=request.auth)


@router.get("/retention/", response=RetentionOut, summary="Observed recall beside the predicted recall")
def retention(request: HttpRequest, filters: Query[RetentionFilters]) -> Any:
    return services.retention(user=request.auth, days=filters.days)


@router.get(
    "/subscriptions/", response=SubscriptionAnalyticsOut, summary="Subscription analytics (admins only)"
)
def subscriptions(request: HttpRequest) -> Any:
    return services.subscription_analytics(user=request.auth)

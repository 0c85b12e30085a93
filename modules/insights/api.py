"""The insights routers, both mounted at /api/analytics/: ``router`` for every learner, ``admin_router``
for admins (``config/api.py`` mounts it with the staff-only authenticator). Thin: call a service, shape
its answer."""

from django.http import HttpRequest
from ninja import Query, Router

from modules.identity.schemas import ErrorOut
from modules.insights import services
from modules.insights.schemas import DashboardOut, RetentionFilters, RetentionOut, SubscriptionAnalyticsOut

router = Router(tags=["analytics"])
admin_router = Router(tags=["analytics"])

# The error answers each route documents in the OpenAPI schema (every error is {"detail", "code"}).
_LEARNER = {401: ErrorOut, 429: ErrorOut}


@router.get("/dashboard/", response={200: DashboardOut, **_LEARNER}, summary="Your learning dashboard")
def dashboard(request: HttpRequest) -> services.Dashboard:
    return services.dashboard(user=request.auth)


@router.get(
    "/retention/",
    response={200: RetentionOut, 422: ErrorOut, **_LEARNER},
    summary="Observed recall beside the predicted recall",
)
def retention(request: HttpRequest, filters: Query[RetentionFilters]) -> services.Retention:
    return services.retention(user=request.auth, days=filters.days)


@admin_router.get(
    "/subscriptions/",
    response={200: SubscriptionAnalyticsOut, 403: ErrorOut, **_LEARNER},
    summary="Subscription analytics (admins only)",
)
def subscriptions(request: HttpRequest) -> services.SubscriptionAnalytics:
    return services.subscription_analytics()

"""Identity's throttles: the tier rate per user and the per-IP rate of the auth endpoints.

``tier_throttle`` is the API-wide default (config/api.py): an authenticated user may make their
tier's ``api_requests_per_hour`` (an expired subscription counts as FREE); an anonymous client, per
IP, FREE's rate. ``auth_throttle`` guards every /api/auth/* route per client IP with
``settings.AUTH_THROTTLE_RATE``: those routes are public (or, for logout, are about credentials), and
Ninja runs throttles after authentication, so login, refresh, reset and verification must be limited
by address, not by user.
"""

from __future__ import annotations

from django.http import HttpRequest

from modules.common.throttles import IPRateThrottle, UserOrIPRateThrottle
from modules.identity.models import User
from modules.identity.services import tier_spec_for
from modules.identity.tiers import TIER_SPECS, Tier


class TierRateThrottle(UserOrIPRateThrottle):
    def rate_for(self, request: HttpRequest) -> str:
        auth = getattr(request, "auth", None)
        spec = tier_spec_for(auth) if isinstance(auth, User) else TIER_SPECS[Tier.FREE]
        return f"{spec.api_requests_per_hour}/hour"


tier_throttle = TierRateThrottle(scope="tier")
auth_throttle = IPRateThrottle(scope="auth", rate_setting="AUTH_THROTTLE_RATE")

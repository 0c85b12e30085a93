"""The Django admin's site: Django's, with its login guarded like the API's.

``/admin/login/`` checks a staff password, so it gets what ``/api/auth/token/`` has: the per-IP budget
of the auth routes (``auth_throttle``, ``AUTH_THROTTLE_RATE``, one budget shared with /api/auth/*) and
the per-account limit on wrong passwords (``services.password_check``, ``LOGIN_FAILURE_RATE``, shared
with the API's login, password change and account deletion). A refused login shows the login page
again with the reason, answered 429 with ``Retry-After``. It is the default site
(``ReseeAdminConfig``, listed in INSTALLED_APPS instead of ``django.contrib.admin``), so every module's
``admin.register`` lands on it.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

from modules.common.errors import Throttled
from modules.identity import services
from modules.identity.throttles import auth_throttle

TOO_MANY_REQUESTS = "Too many login attempts from your address. Try again later."


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """Refuses past the client's per-IP budget, or once the account has had its wrong passwords for
    the window (a right password too: the refusal tells nothing); counts a wrong password against the
    account. ``retry_after_seconds`` is set when it refused."""

    retry_after_seconds: int | None = None

    def clean(self) -> dict[str, Any]:
        if self.request is not None and not auth_throttle.allow_request(self.request):
            self._refuse(TOO_MANY_REQUESTS, auth_throttle.wait())
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()  # a missing field: nothing is checked
        try:
            with services.password_check(services.User.objects.normalize_email(username)) as check:
                try:
                    return super().clean()
                except ValidationError:
                    if self.user_cache is None:  # a right password of a non-staff account is no guess
                        check.wrong()
                    raise
        except Throttled as refusal:
            self._refuse(refusal.detail, refusal.retry_after_seconds)

    def _refuse(self, message: str, wait: float | None) -> NoReturn:
        self.retry_after_seconds = max(math.ceil(wait or 1), 1)
        raise ValidationError(message, code="throttled")


class ReseeAdminSite(admin.AdminSite):
    login_form = ThrottledAdminAuthenticationForm

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        retry_after = getattr(form, "retry_after_seconds", None)
        if retry_after is not None:
            response.status_code = 429
            response["Retry-After"] = str(retry_after)
        return response

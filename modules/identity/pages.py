"""Server-rendered pages for the links in identity's emails, for deployments without a frontend.

The verification and password-reset emails link to ``FRONTEND_URL`` + ``/verify-email?token=...`` and
``/reset-password?token=...``. While ``FRONTEND_URL`` is this backend (unset, or equal to ``SITE_URL``)
these small pages answer those links and complete the flow: plain HTML forms, no JavaScript, CSRF
protected, throttled per client IP in the same bucket as /api/auth/* (``auth_throttle``). When
``FRONTEND_URL`` names another site, a GET here is redirected there (path and query kept), so a link
mailed before the frontend went live still lands somewhere that works.

Opening a link never spends its token. Mail scanners (Safe Links, Proofpoint, Mimecast, preview bots)
fetch every link of a message before the person clicks; if a GET verified the address, the person's
own click would then say "expired or already used". So GET only checks the token (read-only) and
shows a button; the POST that button sends is what verifies. Reset links work the same way: GET
shows the new-password form, POST spends the token.

The views are thin: they call identity's services facade, which applies the API's rules (password
validators, single-use tokens, the same messages) and accepts a token raw or percent-encoded.

``/reminders/off?token=...`` (the link in every review reminder email, and its ``List-Unsubscribe``
header) turns the daily reminders off. It is served here whatever ``FRONTEND_URL`` is, and its GET is
never sent to a frontend: a mailbox provider's RFC 8058 one-click POST must reach the backend, and the
page needs no sign-in, so one flow serves both deployments and the frontend has nothing to build.
GET shows a button (changes nothing); the button's POST is CSRF-checked like every form here. A POST
whose body is ``List-Unsubscribe=One-Click`` with the token in the URL (the provider's, without a CSRF
token or cookie) is the one request exempt from the CSRF check and from the per-IP rate: the signed
token is its authorization, and a provider posts every unsubscribe of its users from a few addresses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib.auth.password_validation import password_validators_help_texts
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from modules.common.errors import InvalidToken, ValidationFailed
from modules.identity import services
from modules.identity.services.links import ONE_CLICK_BODY, REMINDERS_OFF_PATH
from modules.identity.throttles import auth_throttle

app_name = "identity_pages"

TOKEN_MAX_LENGTH = 512  # as the API's TokenIn
PASSWORD_MAX_LENGTH = 4096
# Nothing on these pages loads from elsewhere or runs a script; forms post back here only.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)


class EmailForm(forms.Form):
    email = forms.EmailField(max_length=254)


class TokenForm(forms.Form):
    token = forms.CharField(max_length=TOKEN_MAX_LENGTH)


class NewPasswordForm(TokenForm):
    new_password = forms.CharField(max_length=PASSWORD_MAX_LENGTH, strip=False)
    new_password_again = forms.CharField(max_length=PASSWORD_MAX_LENGTH, strip=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        first, again = data.get("new_password"), data.get("new_password_again")
        if first is not None and again is not None and first != again:
            self.add_error("new_password_again", "The two passwords do not match.")
        return data


# --- Shared behaviour ---------------------------------------------------------------------------


def _frontend_elsewhere(request: HttpRequest) -> bool:
    """True when ``FRONTEND_URL`` is a separate site (and not the host this request came to, which
    would make the redirect a loop)."""
    if settings.FRONTEND_URL == settings.SITE_URL:
        return False
    return urlsplit(settings.FRONTEND_URL).netloc.lower() != request.get_host().lower()


def _secure(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    # The URL may hold a token: it never goes to another site. Not "no-referrer": browsers then send
    # "Origin: null" with the form's POST, which Django's CSRF check rightly refuses over HTTPS.
    response["Referrer-Policy"] = "same-origin"
    return response


def page(
    *, throttled: bool = True, forwarded: bool = True
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """The frame of every page: a GET goes to a separate frontend when there is one (unless
    ``forwarded`` is off); the client IP's auth rate applies; answers are never cached and carry a
    strict CSP."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @never_cache
        def wrapper(request: HttpRequest) -> HttpResponse:
            if forwarded and request.method == "GET" and _frontend_elsewhere(request):
                return HttpResponseRedirect(f"{settings.FRONTEND_URL}{request.get_full_path()}")
            if throttled and not auth_throttle.allow_request(request):
                response = render(request, "identity/pages/throttled.html", status=429)
                response["Retry-After"] = str(math.ceil(auth_throttle.wait() or 1))
                return _secure(response)
            return _secure(view(request))

        return wrapper

    return decorate


def _see_other(name: str) -> HttpResponse:
    """After a POST that changed something: the browser GETs the result page (a reload re-posts nothing)."""
    response = HttpResponseRedirect(reverse(f"{app_name}:{name}"))
    response.status_code = 303
    return response


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    if template == "reset_password.html":
        context = {**context, "password_help": password_validators_help_texts()}
    return render(request, f"identity/pages/{template}", context, status=status)


# --- Email verification ---------------------------------------------------------------------------


@page()
@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest) -> HttpResponse:
    """GET shows the confirm button (or "expired" and a resend form); POST spends the token."""
    if request.method == "GET":
        token = request.GET.get("token", "")
        if not token:
            return _render(request, "verify_email.html", {"state": "missing", "form": EmailForm()})
        valid = len(token) <= TOKEN_MAX_LENGTH and services.verification_token_valid(token=token)
        if not valid:
            return _render(request, "verify_email.html", {"state": "invalid", "form": EmailForm()}, 400)
        return _render(request, "verify_email.html", {"state": "confirm", "token": token})
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _render(request, "verify_email.html", {"state": "invalid", "form": EmailForm()}, 400)
    try:
        services.verify_email(token=form.cleaned_data["token"])
    except InvalidToken:
        return _render(request, "verify_email.html", {"state": "invalid", "form": EmailForm()}, 400)
    return _see_other("verify-email-done")


@page(throttled=False)
@require_GET
def verify_email_done(request: HttpRequest) -> HttpResponse:
    return _render(request, "verify_email_done.html", {})


@page()
@require_POST
def resend_verification(request: HttpRequest) -> HttpResponse:
    form = EmailForm(request.POST)
    if not form.is_valid():
        return _render(request, "verify_email.html", {"state": "missing", "form": form}, 422)
    services.request_verification_email(email=form.cleaned_data["email"])
    return _render(request, "link_sent.html", {"kind": "verification"})


# --- Password reset -------------------------------------------------------------------------------


@page()
@require_http_methods(["GET", "POST"])
def reset_password(request: HttpRequest) -> HttpResponse:
    """GET shows the new-password form (or "expired" and a form asking for a new link); POST sets the
    password with the API's rules and spends the token."""
    if request.method == "GET":
        token = request.GET.get("token", "")
        if not token:
            return _render(request, "reset_password.html", {"state": "missing", "form": EmailForm()})
        valid = len(token) <= TOKEN_MAX_LENGTH and services.password_reset_token_valid(token=token)
        if not valid:
            return _render(request, "reset_password.html", {"state": "invalid", "form": EmailForm()}, 400)
        return _render(
            request,
            "reset_password.html",
            {"state": "form", "form": NewPasswordForm(initial={"token": token})},
        )
    form = NewPasswordForm(request.POST)
    if not form.is_valid():
        if form.has_error("token"):
            return _render(request, "reset_password.html", {"state": "invalid", "form": EmailForm()}, 400)
        return _render(request, "reset_password.html", {"state": "form", "form": form}, 422)
    try:
        services.confirm_password_reset(
            token=form.cleaned_data["token"], new_password=form.cleaned_data["new_password"]
        )
    except InvalidToken:
        return _render(request, "reset_password.html", {"state": "invalid", "form": EmailForm()}, 400)
    except ValidationFailed as exc:  # the password validators' messages, as the API gives them
        for message in [error.message for error in exc.fields] or [exc.detail]:
            form.add_error("new_password", message)
        return _render(request, "reset_password.html", {"state": "form", "form": form}, 422)
    return _see_other("reset-password-done")


@page(throttled=False)
@require_GET
def reset_password_done(request: HttpRequest) -> HttpResponse:
    return _render(request, "reset_password_done.html", {})


@page()
@require_POST
def request_password_reset(request: HttpRequest) -> HttpResponse:
    form = EmailForm(request.POST)
    if not form.is_valid():
        return _render(request, "reset_password.html", {"state": "missing", "form": form}, 422)
    services.request_password_reset(email=form.cleaned_data["email"])
    return _render(request, "link_sent.html", {"kind": "reset"})


# --- Turning the daily reminders off --------------------------------------------------------------


def _turn_reminders_off(token: str) -> bool:
    """Turn the reminders off with ``token``; False (and nothing changed) when it is not valid."""
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return False
    try:
        services.turn_reminders_off(token=token)
    except InvalidToken:
        return False
    return True


def _reminders_off_invalid(request: HttpRequest) -> HttpResponse:
    return _render(request, "reminders_off.html", {"state": "invalid"}, 400)


def _reminders_off_done(request: HttpRequest) -> HttpResponse:
    return _render(request, "reminders_off_done.html", {"settings_url": services.frontend_page("/settings")})


@csrf_protect
@page(forwarded=False)
def _reminders_off_page(request: HttpRequest) -> HttpResponse:
    """The person's page: GET shows whom the link is for and a button (reads only); the button's POST
    turns the reminders off and redirects to the result."""
    if request.method == "GET":
        token = request.GET.get("token", "")
        found = (
            services.reminders_off_subscription(token=token) if 0 < len(token) <= TOKEN_MAX_LENGTH else None
        )
        if found is None:
            return _reminders_off_invalid(request)
        state = "confirm" if found.reminders_on else "already-off"
        return _render(request, "reminders_off.html", {"state": state, "token": token, "email": found.email})
    form = TokenForm(request.POST)
    if not form.is_valid() or not _turn_reminders_off(form.cleaned_data["token"]):
        return _reminders_off_invalid(request)
    return _see_other("reminders-off-done")


@never_cache
def _one_click_unsubscribe(request: HttpRequest) -> HttpResponse:
    """RFC 8058: the mailbox provider POSTs ``List-Unsubscribe=One-Click`` to the link of the
    ``List-Unsubscribe`` header. It answers directly (the RFC forbids a redirect)."""
    if not _turn_reminders_off(request.GET.get("token", "")):
        return _secure(_reminders_off_invalid(request))
    return _secure(_reminders_off_done(request))


def _is_one_click(request: HttpRequest) -> bool:
    name, value = ONE_CLICK_BODY
    return request.method == "POST" and "token" in request.GET and request.POST.get(name) == value


@csrf_exempt  # for the one-click POST only: every other request goes through csrf_protect below
@require_http_methods(["GET", "POST"])
def reminders_off(request: HttpRequest) -> HttpResponse:
    if _is_one_click(request):
        return _one_click_unsubscribe(request)
    return _reminders_off_page(request)


@page(throttled=False, forwarded=False)
@require_GET
def reminders_off_done(request: HttpRequest) -> HttpResponse:
    return _reminders_off_done(request)


urlpatterns = [
    path("verify-email", verify_email, name="verify-email"),
    path("verify-email/done", verify_email_done, name="verify-email-done"),
    path("verify-email/resend", resend_verification, name="resend-verification"),
    path("reset-password", reset_password, name="reset-password"),
    path("reset-password/done", reset_password_done, name="reset-password-done"),
    path("reset-password/request", request_password_reset, name="request-password-reset"),
    path(REMINDERS_OFF_PATH.removeprefix("/"), reminders_off, name="reminders-off"),
    path("reminders/off/done", reminders_off_done, name="reminders-off-done"),
]

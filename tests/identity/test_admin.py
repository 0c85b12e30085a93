from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from modules.identity import services
from modules.identity.models import EmailLog, Subscription, SubscriptionChange, User
from modules.identity.testing import make_user
from modules.identity.tiers import Tier

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "admin-Chosen-passphrase-5"


@pytest.mark.parametrize(
    "query",
    ["", "?q=ada", "?subscription__tier__exact=PRO", "?is_email_verified__exact=0", "?is_active__exact=1"],
)
def test_user_changelist_searches_and_filters(admin_client: Client, query: str) -> None:
    make_user(email="ada@example.com", tier=Tier.PRO, verified=False)
    make_user(email="bob@example.com", tier=Tier.FREE)

    response = admin_client.get(f"/admin/identity/user/{query}")

    assert response.status_code == 200
    if query in ("?q=ada", "?subscription__tier__exact=PRO", "?is_email_verified__exact=0"):
        assert b"ada@example.com" in response.content
        assert b"bob@example.com" not in response.content


@pytest.mark.parametrize(
    "path",
    [
        "/admin/identity/subscription/",
        "/admin/identity/subscriptionchange/",
        "/admin/identity/emaillog/?q=ada",
        "/admin/identity/emaillog/?status__exact=failed",
        "/admin/identity/user/add/",
    ],
)
def test_admin_pages_load(admin_client: Client, path: str) -> None:
    user = make_user(email="ada@example.com")
    EmailLog.objects.create(
        to=user.email, template="identity/email/verify_email", subject="hi", status="failed"
    )

    assert admin_client.get(path).status_code == 200


def test_user_change_page_loads(admin_client: Client) -> None:
    user = make_user(email="ada@example.com")

    assert admin_client.get(f"/admin/identity/user/{user.pk}/change/").status_code == 200


def test_admin_adds_a_user_with_a_lowercased_email(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/identity/user/add/",
        {
            "email": "New@Example.com",
            "usable_password": "true",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )

    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert user.check_password(NEW_PASSWORD)


def test_admin_refuses_a_duplicate_email_in_another_case(admin_client: Client) -> None:
    make_user(email="ada@example.com")

    response = admin_client.post(
        "/admin/identity/user/add/",
        {
            "email": "ADA@example.com",
            "usable_password": "true",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert User.objects.filter(email="ada@example.com").count() == 1


def test_admin_password_change_sets_the_password_and_ends_the_users_sessions(admin_client: Client) -> None:
    user = make_user(email="ada@example.com")
    pair = services.issue_tokens(user)

    response = admin_client.post(
        f"/admin/identity/user/{user.pk}/password/",
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert (
        Client()
        .get("/api/accounts/users/me/", headers={"Authorization": f"Bearer {pair.access}"})
        .status_code
        == 401
    )


@pytest.mark.parametrize("tier", ["FREE", "BASIC", "PRO"])
def test_admin_action_sets_the_tier_of_selected_users_and_records_it(admin_client: Client, tier: str) -> None:
    ada = make_user(email="ada@example.com", tier=Tier.BASIC if tier != "BASIC" else Tier.FREE)
    bob = make_user(email="bob@example.com", tier=Tier.BASIC if tier != "BASIC" else Tier.FREE)

    response = admin_client.post(
        "/admin/identity/user/",
        {"action": f"set_tier_{tier.lower()}", "_selected_action": [ada.pk, bob.pk]},
    )

    assert response.status_code == 302
    for user in (ada, bob):
        assert Subscription.objects.get(user=user).tier == tier
        assert SubscriptionChange.objects.filter(user=user, to_tier=tier, source="admin").exists()


def test_admin_action_on_subscriptions_sets_the_tier(admin_client: Client) -> None:
    ada = make_user(email="ada@example.com", tier=Tier.FREE)

    admin_client.post(
        "/admin/identity/subscription/",
        {"action": "set_tier_pro", "_selected_action": [ada.subscription.pk]},
    )

    assert Subscription.objects.get(user=ada).tier == "PRO"


def test_editing_a_subscriptions_tier_in_admin_records_the_change(admin_client: Client) -> None:
    ada = make_user(email="ada@example.com", tier=Tier.FREE)
    sub = ada.subscription

    response = admin_client.post(
        f"/admin/identity/subscription/{sub.pk}/change/",
        {
            "user": ada.pk,
            "tier": "BASIC",
            "started_at_0": "2026-01-01",
            "started_at_1": "00:00:00",
            "expires_at_0": "",
            "expires_at_1": "",
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    assert SubscriptionChange.objects.filter(
        user=ada, from_tier="FREE", to_tier="BASIC", source="admin"
    ).exists()


def subscription_form(sub: Subscription, **fields: str) -> dict[str, str]:
    """The change form of a subscription as the admin page posts it (user and started_at are read-only)."""
    expires = timezone.localtime(sub.expires_at) if sub.expires_at else None
    form = {
        "tier": sub.tier,
        "expires_at_0": expires.strftime("%Y-%m-%d") if expires else "",
        "expires_at_1": expires.strftime("%H:%M:%S") if expires else "",
    }
    if sub.is_active:
        form["is_active"] = "on"
    form.update(fields)
    return {name: value for name, value in form.items() if value is not None}


def test_editing_an_expired_subscriptions_tier_records_the_tier_that_counted(admin_client: Client) -> None:
    ada = make_user(email="ada@example.com", tier=Tier.PRO)
    Subscription.objects.filter(user=ada).update(expires_at=timezone.now() - timedelta(days=1))
    sub = Subscription.objects.get(user=ada)

    response = admin_client.post(
        f"/admin/identity/subscription/{sub.pk}/change/",
        subscription_form(sub, tier="BASIC", expires_at_0="", expires_at_1=""),
    )

    assert response.status_code == 302
    change = SubscriptionChange.objects.filter(user=ada, source="admin").get()
    assert (change.from_tier, change.to_tier) == ("FREE", "BASIC")  # the stored PRO had expired
    assert services.effective_tier(User.objects.get(pk=ada.pk)) is Tier.BASIC


def test_extending_a_subscription_in_admin_records_a_renewal(admin_client: Client) -> None:
    ada = make_user(email="ada@example.com", tier=Tier.PRO)
    sub = ada.subscription
    until = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    local = timezone.localtime(until)

    response = admin_client.post(
        f"/admin/identity/subscription/{sub.pk}/change/",
        subscription_form(
            sub, expires_at_0=local.strftime("%Y-%m-%d"), expires_at_1=local.strftime("%H:%M:%S")
        ),
    )

    assert response.status_code == 302
    sub.refresh_from_db()
    assert sub.expires_at == until
    change = SubscriptionChange.objects.filter(user=ada, source="admin").get()
    assert (change.from_tier, change.to_tier) == ("PRO", "PRO")


def test_deactivating_a_subscription_in_admin_records_the_move_to_free(admin_client: Client) -> None:
    ada = make_user(email="ada@example.com", tier=Tier.PRO)
    sub = ada.subscription
    form = subscription_form(sub)
    del form["is_active"]

    response = admin_client.post(f"/admin/identity/subscription/{sub.pk}/change/", form)

    assert response.status_code == 302
    assert not Subscription.objects.get(pk=sub.pk).is_active
    change = SubscriptionChange.objects.filter(user=ada, source="admin").get()
    assert (change.from_tier, change.to_tier) == ("PRO", "FREE")


def test_saving_an_unchanged_subscription_in_admin_records_nothing(admin_client: Client) -> None:
    ada = make_user(email="ada@example.com", tier=Tier.BASIC)
    sub = ada.subscription

    response = admin_client.post(f"/admin/identity/subscription/{sub.pk}/change/", subscription_form(sub))

    assert response.status_code == 302
    assert not SubscriptionChange.objects.filter(user=ada, source="admin").exists()


def test_the_subscriptions_user_and_start_cannot_be_edited_in_admin(admin_client: Client) -> None:
    ada = make_user(email="ada@example.com", tier=Tier.BASIC)
    bob = make_user(email="bob@example.com", tier=Tier.FREE)
    sub = ada.subscription
    started = sub.started_at

    admin_client.post(
        f"/admin/identity/subscription/{sub.pk}/change/",
        subscription_form(sub, user=str(bob.pk), started_at_0="2020-01-01", started_at_1="00:00:00"),
    )

    sub.refresh_from_db()
    assert (sub.user_id, sub.started_at) == (ada.pk, started)


def test_adding_a_subscription_in_admin_records_the_accounts_first_tier(
    admin_client: Client, admin_user
) -> None:
    root = admin_user  # a superuser is created without a subscription

    response = admin_client.post(
        "/admin/identity/subscription/add/",
        {
            "user": root.pk,
            "tier": "PRO",
            "expires_at_0": "",
            "expires_at_1": "",
            "is_active": "on",
            "_continue": "1",
        },
    )

    sub = Subscription.objects.get(user=root)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/identity/subscription/{sub.pk}/change/"
    change = SubscriptionChange.objects.filter(user=root).get()
    assert (change.from_tier, change.to_tier, change.source) == ("", "PRO", "admin")


def test_email_log_admin_is_read_only_and_hides_bodies(admin_client: Client) -> None:
    log = EmailLog.objects.create(to="ada@example.com", template="t", subject="s", body_text="secret-link")

    page = admin_client.get(f"/admin/identity/emaillog/{log.pk}/change/")

    assert page.status_code == 200
    assert b"secret-link" not in page.content
    assert admin_client.get("/admin/identity/emaillog/add/").status_code == 403


def _learner_with_history(email: str) -> User:
    """A learner with everything an account deletion must clean up: review history, an AI request log
    row, outstanding (and blacklisted) tokens and email log rows."""
    from modules.ai.testing import make_request_log
    from modules.learning.testing import make_content, record_review

    user = make_user(email=email)
    record_review(content=make_content(user=user))
    make_request_log(user=user)
    services.issue_tokens(user)
    services.logout(user=user, refresh=services.issue_tokens(user).refresh)  # a blacklisted one too
    EmailLog.objects.create(to=user.email, template="identity/email/verify_email", subject="hi")
    return user


def _leftovers(user: User, email: str) -> dict[str, int]:
    from ninja_jwt.token_blacklist.models import OutstandingToken

    from modules.ai.models import AIRequestLog
    from modules.learning.models import Content, ReviewHistory

    return {
        "users": User.objects.filter(pk=user.pk).count(),
        "contents": Content.objects.filter(user_id=user.pk).count(),
        "reviews": ReviewHistory.objects.filter(user_id=user.pk).count(),
        "ai_logs_of_the_user": AIRequestLog.objects.filter(user_id=user.pk).count(),
        "tokens": OutstandingToken.objects.filter(user__isnull=True).count()
        + OutstandingToken.objects.filter(user_id=user.pk).count(),
        "email_logs": EmailLog.objects.filter(to=email).count(),
    }


def test_admin_deletes_a_user_with_history_as_the_api_does(
    admin_client: Client, django_capture_on_commit_callbacks
) -> None:
    ada = _learner_with_history("ada@example.com")
    url = f"/admin/identity/user/{ada.pk}/delete/"

    confirmation = admin_client.get(url)
    assert confirmation.status_code == 200
    assert not confirmation.context["perms_lacking"]  # not "your account doesn't have permission"

    with django_capture_on_commit_callbacks(execute=True):  # the erasure runs inline after the commit
        done = admin_client.post(url, {"post": "yes"}, follow=True)

    assert done.redirect_chain[-1] == ("/admin/identity/user/", 302)
    (message,) = [str(m) for m in done.context["messages"]]
    assert "“ada@example.com” is closed" in message and "being erased in the background" in message
    assert set(_leftovers(ada, "ada@example.com").values()) == {0}


def test_admin_bulk_action_deletes_users_with_history_as_the_api_does(
    admin_client: Client, django_capture_on_commit_callbacks
) -> None:
    ada = _learner_with_history("ada@example.com")
    bob = _learner_with_history("bob@example.com")
    selected = {"action": "delete_selected", "_selected_action": [ada.pk, bob.pk]}

    confirmation = admin_client.post("/admin/identity/user/", selected)
    assert confirmation.status_code == 200
    assert not confirmation.context["perms_lacking"]

    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client.post("/admin/identity/user/", {**selected, "post": "yes"}, follow=True)

    assert done.status_code == 200
    (message,) = [str(m) for m in done.context["messages"]]
    assert message.startswith("2 accounts closed") and "being erased in the background" in message
    for user, email in ((ada, "ada@example.com"), (bob, "bob@example.com")):
        assert set(_leftovers(user, email).values()) == {0}


def test_admin_delete_closes_the_account_at_once_and_queues_its_erasure(
    admin_client: Client, django_capture_on_commit_callbacks
) -> None:
    ada = _learner_with_history("ada@example.com")
    pair = services.issue_tokens(ada)

    with django_capture_on_commit_callbacks(execute=False) as erasure:
        assert admin_client.post(f"/admin/identity/user/{ada.pk}/delete/", {"post": "yes"}).status_code == 302

    assert len(erasure) == 1  # queued on commit, not run in the admin's request
    closed = User.objects.get(pk=ada.pk)
    assert closed.closed_at is not None and not closed.is_active
    assert closed.email.endswith("@closed.invalid")
    assert (
        Client()
        .get("/api/accounts/users/me/", headers={"Authorization": f"Bearer {pair.access}"})
        .status_code
        == 401
    )
    assert make_user(email="ada@example.com").pk != ada.pk  # the address is free again


def test_the_delete_confirmation_costs_the_same_for_a_small_and_a_large_account(admin_client: Client) -> None:
    """Django's page (and the counting one before it, with as many queries for any account) collected
    every content and card of the account in Python and counted its history by their ids: linear in
    the account (0.25 s for 3,000 contents and 30,000 reviews)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from modules.learning.testing import make_content, record_review

    counts = []
    for index, cards in enumerate((1, 30)):
        user = make_user(email=f"learner{index}@example.com")
        for _ in range(cards):
            content = make_content(user=user)
            record_review(content=content)
            record_review(content=content)
        admin_client.get(f"/admin/identity/user/{user.pk}/delete/")  # warm the session and content types
        with CaptureQueriesContext(connection) as queries:
            page = admin_client.get(f"/admin/identity/user/{user.pk}/delete/")
        assert page.status_code == 200
        counts.append(len(queries))
        read = [
            q["sql"][:80] for q in queries.captured_queries if '"learning_' in q["sql"] or '"ai_' in q["sql"]
        ]
        assert read == []  # nothing of the account's data: its size cannot matter

    assert counts[0] == counts[1], counts
    assert b"erased by the background worker" in page.content


def test_the_user_list_shows_and_filters_closed_accounts(admin_client: Client) -> None:
    make_user(email="open@example.com")
    closed = make_user(email="gone@example.com")
    services.close_account(user=closed)

    only_closed = admin_client.get("/admin/identity/user/?account=closed")
    only_open = admin_client.get("/admin/identity/user/?account=open")

    assert only_closed.status_code == only_open.status_code == 200
    assert closed.email.encode() in only_closed.content and b"open@example.com" not in only_closed.content
    assert b"open@example.com" in only_open.content and closed.email.encode() not in only_open.content


def test_a_closed_account_can_be_viewed_but_not_changed_in_admin(admin_client: Client) -> None:
    closed = make_user(email="gone@example.com")
    services.close_account(user=closed)
    url = f"/admin/identity/user/{closed.pk}/change/"

    page = admin_client.get(url)
    attempt = admin_client.post(url, {"email": "back@example.com", "is_active": "on"})

    assert page.status_code == 200 and b"Closed at" in page.content
    assert attempt.status_code == 403
    assert User.objects.get(pk=closed.pk).email == closed.email


def test_admin_still_cannot_delete_history_rows_on_their_own(admin_client: Client) -> None:
    from modules.learning.testing import make_content, record_review

    row = record_review(content=make_content(user=make_user(email="ada@example.com")))

    assert admin_client.get(f"/admin/learning/reviewhistory/{row.pk}/delete/").status_code == 403


def test_admin_deleting_a_user_removes_their_email_log_and_tokens(
    admin_client: Client, django_capture_on_commit_callbacks
) -> None:
    from ninja_jwt.token_blacklist.models import OutstandingToken

    ada = make_user(email="ada@example.com")  # no history: Django's own deletion worked here
    services.issue_tokens(ada)
    EmailLog.objects.create(to=ada.email, template="identity/email/verify_email", subject="hi")

    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(f"/admin/identity/user/{ada.pk}/delete/", {"post": "yes"}).status_code == 302

    assert not User.objects.filter(pk=ada.pk).exists()
    assert not EmailLog.objects.filter(to="ada@example.com").exists()
    assert not OutstandingToken.objects.exists()  # not left behind with user=NULL and its token text


def _tokens(count: int) -> User:
    ada = make_user(email=f"ada{count}@example.com")
    for _ in range(count):
        services.logout(user=ada, refresh=services.issue_tokens(ada).refresh)
    return ada


@pytest.mark.parametrize(
    "path",
    [
        "/admin/token_blacklist/blacklistedtoken/",
        "/admin/token_blacklist/blacklistedtoken/{blacklisted}/change/",
        "/admin/token_blacklist/outstandingtoken/",
        "/admin/token_blacklist/outstandingtoken/{outstanding}/change/",
    ],
)
def test_token_admin_pages_take_as_many_queries_for_40_tokens_as_for_2(
    admin_client: Client, path: str
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from ninja_jwt.token_blacklist.models import BlacklistedToken

    counts = []
    for count in (2, 40):
        BlacklistedToken.objects.all().delete()
        ada = _tokens(count)
        row = BlacklistedToken.objects.filter(token__user=ada).first()
        url = path.format(blacklisted=row.pk, outstanding=row.token_id)
        admin_client.get(url)  # warm: the first request loads caches (content types, the session)
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(url)
        assert response.status_code == 200, url
        counts.append(len(queries))

    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("model", ["blacklistedtoken", "outstandingtoken"])
def test_token_records_cannot_be_added_or_deleted_in_admin(admin_client: Client, model: str) -> None:
    from ninja_jwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    ada = _tokens(1)
    row = BlacklistedToken.objects.get(token__user=ada)
    pk = row.pk if model == "blacklistedtoken" else row.token_id

    assert admin_client.get(f"/admin/token_blacklist/{model}/add/").status_code == 403
    assert (
        admin_client.post(f"/admin/token_blacklist/{model}/{pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert BlacklistedToken.objects.filter(pk=row.pk).exists()  # the refresh token stays revoked
    page = admin_client.get(f"/admin/token_blacklist/outstandingtoken/{row.token_id}/change/")
    assert OutstandingToken.objects.get(pk=row.token_id).token.encode() not in page.content


def test_set_tier_action_refuses_a_selection_past_its_limit_and_changes_nothing(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modules.identity import admin as identity_admin

    monkeypatch.setattr(identity_admin, "SET_TIER_ACTION_MAX", 2)
    users = [make_user(email=f"u{i}@example.com", tier=Tier.FREE) for i in range(3)]

    response = admin_client.post(
        "/admin/identity/user/",
        {"action": "set_tier_pro", "_selected_action": [u.pk for u in users]},
        follow=True,
    )

    assert response.status_code == 200
    assert "3 users selected: this action changes at most 2 at once" in response.content.decode()
    assert set(Subscription.objects.filter(user__in=users).values_list("tier", flat=True)) == {"FREE"}
    assert not SubscriptionChange.objects.filter(source="admin").exists()


def test_set_tier_action_says_it_removed_an_expiry(admin_client: Client) -> None:
    ada = make_user(email="ada@example.com", tier=Tier.BASIC)
    bob = make_user(email="bob@example.com", tier=Tier.BASIC)
    Subscription.objects.filter(user=ada).update(expires_at=timezone.now() + timedelta(days=10))

    response = admin_client.post(
        "/admin/identity/user/",
        {"action": "set_tier_pro", "_selected_action": [ada.pk, bob.pk]},
        follow=True,
    )

    text = response.content.decode()
    assert "2 user(s) moved to PRO, open-ended. 1 of them had an expiry date, now removed" in text
    assert Subscription.objects.get(user=ada).expires_at is None

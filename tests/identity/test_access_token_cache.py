"""The process's memory of verified access tokens (modules/identity/tokens.py) decides nothing about
the user: a token seen before still stops working at once when its user is deactivated, revoked or
changes tier, and the moment it expires; a forged token is never taken for a remembered one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from time_machine import TimeMachineFixture

from modules.identity import services
from modules.identity.testing import make_user
from modules.identity.tiers import Tier

pytestmark = pytest.mark.django_db

ME = "/api/accounts/users/me/"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_remembered_token_of_a_deactivated_user_stops_working(api_client: Client) -> None:
    user = make_user()
    headers = bearer(services.issue_tokens(user).access)
    assert api_client.get(ME, headers=headers).status_code == 200

    user.is_active = False
    user.save(update_fields=["is_active"])

    assert api_client.get(ME, headers=headers).status_code == 401


def test_a_remembered_token_stops_working_when_every_session_is_revoked(api_client: Client) -> None:
    user = make_user()
    headers = bearer(services.issue_tokens(user).access)
    assert api_client.get(ME, headers=headers).status_code == 200

    services.revoke_all_sessions(user)

    response = api_client.get(ME, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_a_remembered_token_sees_a_tier_change_at_once(api_client: Client) -> None:
    user = make_user(tier=Tier.FREE)
    headers = bearer(services.issue_tokens(user).access)
    assert api_client.get(ME, headers=headers).json()["subscription_tier"] == "FREE"

    services.change_tier(user=user, tier=Tier.PRO, source="test")

    assert api_client.get(ME, headers=headers).json()["subscription_tier"] == "PRO"


def test_a_remembered_token_expires_on_time(api_client: Client, time_machine: TimeMachineFixture) -> None:
    user = make_user()
    time_machine.move_to(timezone.now(), tick=False)
    headers = bearer(services.issue_tokens(user).access)
    assert api_client.get(ME, headers=headers).status_code == 200

    time_machine.shift(timedelta(minutes=59, seconds=59))
    assert api_client.get(ME, headers=headers).status_code == 200
    time_machine.shift(timedelta(seconds=1))

    response = api_client.get(ME, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_a_forged_signature_is_refused_although_the_genuine_token_is_remembered(api_client: Client) -> None:
    user = make_user()
    token = services.issue_tokens(user).access
    assert api_client.get(ME, headers=bearer(token)).status_code == 200
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"

    assert api_client.get(ME, headers=bearer(forged)).status_code == 401

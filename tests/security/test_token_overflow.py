from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_a_validly_signed_token_with_an_absurd_expiry_is_401_not_500(api_client) -> None:
    import jwt
    from django.conf import settings

    from modules.identity.testing import make_user

    user = make_user()
    token = jwt.encode(
        {"token_type": "access", "exp": 10**30, "iat": 1, "jti": "x", "user_id": user.pk, "ver": 0},
        settings.NINJA_JWT["SIGNING_KEY"],
        algorithm="HS256",
    )
    response = api_client.get("/api/accounts/users/me/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"
    refresh = api_client.post(
        "/api/auth/token/refresh/",
        {"refresh": token.replace("access", "refresh")},
        content_type="application/json",
    )
    assert refresh.status_code == 401
